# Fails when the committed FileDescriptorSet differs from what protoc makes
# of proto/ now. Run by ctest: cmake -DPROTOC= -DPROTO_DIR= -DCOMMITTED= -DOUT= -P
execute_process(
  COMMAND ${PROTOC} --proto_path=${PROTO_DIR} --descriptor_set_out=${OUT}
          ${PROTO_DIR}/tcpstates/v1/tcpstates.proto
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "protoc failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT} ${COMMITTED} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${COMMITTED} is stale: the schema changed. Run "
                      "`make update-schema-descriptor` and commit the result "
                      "(after checking compatibility).")
endif()
message(STATUS "${COMMITTED} matches proto/")
