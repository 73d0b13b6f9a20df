#!/usr/bin/env python3
"""Checks that agent/ keeps the architecture the README draws.

- The stage libraries link only stages listed before them in
  TCPSTATES_STAGES (agent/CMakeLists.txt), as `cmake --graphviz` sees the
  build graph: this also catches a target_link_libraries() that bypasses
  agent_stage().
- Configuration is a layer above the stages: in TCPSTATES_STAGES only the
  daemon follows config, so every stage on the data path declares its own
  settings and none of them can reach agent_config.
- The programs in agent/programs/ (tcpstates-consume) are no stage: their
  libraries link stages, and no stage links them.
- No source reaches into another folder with a relative include: a stage's
  private headers are reachable only from its own folder.
- No cycle of calls between the files of one folder of agent/: each
  folder's files form layers, found from the sources (which file defines
  each non-static function or variable, which files name it). A cycle is
  reported with the files in it.
- No file in agent/ is longer than MAX_FILE_LINES, and no function longer
  than MAX_FUNCTION_LINES (a function is a body from a `{` in column 0 to
  the `}` in column 0 that closes it, as .clang-format lays them out).

Usage: check-layout.py SOURCE_DIR BUILD_DIR
"""
import os
import re
import subprocess
import sys
import tempfile

MAX_FILE_LINES = 900
MAX_FUNCTION_LINES = 100


def long_functions(lines):
    """(first line, length) of every function body over MAX_FUNCTION_LINES."""
    found, start = [], None
    for n, line in enumerate(lines, 1):
        if line.startswith("{"):
            start = n
        elif line.startswith("}") and start is not None:
            if n - start + 1 > MAX_FUNCTION_LINES:
                found.append((start, n - start + 1))
            start = None
    return found


def code_only(text):
    """The text with comments, string and character literals blanked, lines kept."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    return re.sub(r"'(\\.|[^'\\\n])*'", "''", text)


def exported_names(lines):
    """Names of the non-static functions and variables a file defines. A
    function's body opens with `{` in column 0; its declarator starts on the
    nearest line above that is not indented (parameters that wrap are). A
    variable (such as a table of operations) is initialised at file scope."""
    names = set()
    for line in lines:
        m = re.match(r"(?!static\b|extern\b|typedef\b)[A-Za-z_][\w \t\*]*?\b([A-Za-z_]\w*)"
                     r"\s*(\[\w*\])?\s*=", line)
        if m:
            names.add(m.group(1))
    for n, line in enumerate(lines):
        if not line.startswith("{"):
            continue
        head = next((lines[k] for k in range(n - 1, -1, -1)
                     if lines[k] and not lines[k][0].isspace()), "")
        m = re.match(r"[^(=]*?\b([A-Za-z_]\w*)\s*\(", head)
        if m and not re.match(r"static\b", head):
            names.add(m.group(1))
    return names


def file_cycles(folder):
    """The cycles of calls between the .c files of one folder, each a sorted
    list of names. File A depends on file B when A names a function that B
    or variable that B defines and does not make static (a call, an address
    taken, a table of operations read)."""
    code = {}
    for f in sorted(os.listdir(folder)):
        if f.endswith(".c"):
            code[f] = code_only(open(os.path.join(folder, f), encoding="utf-8").read())
    owner = {}
    for f, text in code.items():
        for name in exported_names(text.splitlines()):
            owner[name] = f
    edges = {f: set() for f in code}
    for f, text in code.items():
        for name in set(re.findall(r"\b[A-Za-z_]\w*\b", text)):
            g = owner.get(name)
            if g and g != f:
                edges[f].add(g)
    return [sorted(c) for c in strongly_connected(edges) if len(c) > 1]


def strongly_connected(edges):
    """The strongly connected components of a graph {node: set of nodes}
    (Tarjan's algorithm, without recursion)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
    return out

def stage_order(src):
    text = open(os.path.join(src, "agent/CMakeLists.txt")).read()
    m = re.search(r"set\(TCPSTATES_STAGES ([^)]*)\)", text)
    if not m:
        sys.exit("check-layout: TCPSTATES_STAGES not found in agent/CMakeLists.txt")
    return m.group(1).split()


def config_is_above(order):
    """A problem if a stage other than the daemon is listed after config."""
    if "config" not in order:
        return None
    after = [s for s in order[order.index("config") + 1:] if s != "daemon"]
    if after:
        return (f"{', '.join(after)} listed after config in TCPSTATES_STAGES: configuration "
                "is the layer above the stages, and only the daemon may follow it")
    return None


def program_libraries(src):
    """The libraries the folders of agent/programs/ define."""
    libs = set()
    programs = os.path.join(src, "agent/programs")
    for name in sorted(os.listdir(programs)) if os.path.isdir(programs) else []:
        lists = os.path.join(programs, name, "CMakeLists.txt")
        if os.path.exists(lists):
            libs.update(re.findall(r"add_library\((\w+)", open(lists).read()))
    return libs


def graph_edges(build):
    with tempfile.TemporaryDirectory() as tmp:
        dot = os.path.join(tmp, "graph.dot")
        subprocess.run(["cmake", "--graphviz=" + dot, "."], cwd=build, check=True,
                       stdout=subprocess.DEVNULL)
        text = open(dot).read()
    names = dict(re.findall(r'"(node\d+)" \[ label = "([^"]+)"', text))
    return [(names[a], names[b]) for a, b in re.findall(r'"(node\d+)" -> "(node\d+)"', text)]


def main():
    src, build = sys.argv[1], sys.argv[2]
    order = stage_order(src)
    rank = {"tcpstates_" + s: i for i, s in enumerate(order)}
    programs = program_libraries(src)
    problems = []
    above = config_is_above(order)
    if above:
        problems.append(above)
    seen = 0
    for a, b in graph_edges(build):
        if a in rank and b in programs:
            problems.append(f"{a} links {b}, the library of a program, not of a stage")
        if a in rank and b in rank:
            seen += 1
            if rank[b] >= rank[a]:
                problems.append(f"{a} links {b}, which is not listed before it")
    if seen == 0:
        problems.append("no edge between stage libraries found in the build graph")
    for root, _, files in os.walk(os.path.join(src, "agent")):
        for cycle in file_cycles(root):
            problems.append(f"{os.path.relpath(root, src)}: a cycle of calls between "
                            f"{', '.join(cycle)}")
        for f in files:
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)
            if not f.endswith((".c", ".h")):
                continue
            lines = open(path, encoding="utf-8").read().splitlines()
            if len(lines) > MAX_FILE_LINES:
                problems.append(f"{rel}: {len(lines)} lines, more than {MAX_FILE_LINES}")
            for start, length in long_functions(lines):
                problems.append(f"{rel}:{start}: a function of {length} lines, more than "
                                f"{MAX_FUNCTION_LINES}")
            for n, line in enumerate(lines, 1):
                if re.match(r'\s*#\s*include\s+"\.\./', line):
                    problems.append(f"{rel}:{n}: relative include into another folder")
    for p in problems:
        print("check-layout:", p)
    print(f"check-layout: {seen} stage edges, {len(order)} stages, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
