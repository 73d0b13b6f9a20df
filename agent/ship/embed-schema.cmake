# Writes OUT, a C file holding IN (tcpstates.proto) as the string the agent
# registers with a Schema Registry, so the registered schema is always the
# one the agent was built with.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT}.tmp
  "/* Generated from tcpstates.proto by embed-schema.cmake. */\n"
  "const char schema_registry_proto_text[] = {${bytes} 0x00};\n")
file(RENAME ${OUT}.tmp ${OUT})
