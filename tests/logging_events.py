"""Every log event the daemon and the CLI can write is documented in docs/LOGGING.md.

Usage: logging_events.py REPO_ROOT

Events in the code: the event name of every logEvent(LEVEL, "name", ...) call,
i.e. the string literal that follows the level expression (which may be
computed, e.g. `status >= 500 ? LogLevel::Error : LogLevel::Info`), however many
lines the call spans, in the C++ sources under core, appliance, providers, hsm
and attest. Comments are skipped; tests and their helpers are not read
(*_test.cc, *_test.h, *test_util.h, test_*). Also the lines written without
logEvent, as a literal {"event", "name"} pair (the egress guard's replacement
line in appliance/telemetry/logging.cc). An event name that is not a string
literal is an error: it could not be checked.

Events in the doc: the first cell, in backticks, of each row of a Markdown table
whose header's first cell is "Event".

Fails, listing them, when an event in the code is not documented or when the doc
documents an event the code no longer has.
"""

import os
import re
import sys

SOURCE_DIRS = ("core", "appliance", "providers", "hsm", "attest")
SOURCE_EXTENSIONS = (".cc", ".h")
DOC = os.path.join("docs", "LOGGING.md")

CALL = re.compile(r"\blogEvent\s*\(")
EVENT_PAIR = re.compile(r'\{\s*"event"\s*,\s*"([^"\\]+)"\s*\}')
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


TEST_FILE = re.compile(r"(^|_)test(_util)?\.(cc|h)$|^test_")


def is_test_file(name):
    """foo_test.cc, foo_test.h, test_util.h, foo_test_util.h, test_*: tests and their helpers."""
    return bool(TEST_FILE.search(name))


def source_files(root):
    for top in SOURCE_DIRS:
        base = os.path.join(root, top)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(SOURCE_EXTENSIONS) and not is_test_file(name):
                    yield os.path.join(dirpath, name)


def blank_comments(text):
    """The text with comments replaced by spaces (newlines kept, so offsets and
    line numbers stay), string and character literals left as they are."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == 'R' and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^()\\ ]{0,16})\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i)
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(text[i:j])
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def call_arguments(text, start):
    """The top-level arguments of the call whose '(' is at text[start]: a list of
    stripped strings, or None when the parentheses do not close."""
    args, i, n = [], start, len(text)
    current_start = start + 1
    closers = {")": "(", "}": "{", "]": "["}
    stack = []
    while i < n:
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c in "({[":
            stack.append(c)
        elif c in ")}]":
            if not stack or stack[-1] != closers[c]:
                return None
            stack.pop()
            if not stack:
                args.append(text[current_start:i].strip())
                return args
        elif c == "," and len(stack) == 1:
            args.append(text[current_start:i].strip())
            current_start = i + 1
        i += 1
    return None


STRING_LITERAL = re.compile(r'^"((?:[^"\\\n]|\\.)*)"$')


def code_events(root):
    """{event: [(path, line, level expression)]} and a list of problems."""
    events, problems = {}, []
    for path in source_files(root):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = blank_comments(f.read())
        rel = os.path.relpath(path, root)
        for m in CALL.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            before = text[text.rfind("\n", 0, m.start()) + 1 : m.start()]
            if re.search(r"\bvoid\s+(\w+::)*$", before):
                continue  # the declaration or the definition
            args = call_arguments(text, m.end() - 1)
            if args is None or len(args) < 2:
                problems.append(f"{rel}:{line}: a logEvent call whose arguments cannot be read")
                continue
            literal = STRING_LITERAL.match(args[1])
            if not literal or not EVENT_NAME.match(literal.group(1)):
                problems.append(f"{rel}:{line}: the event name is not a plain string literal: {args[1]!r}")
                continue
            level = " ".join(args[0].split())
            events.setdefault(literal.group(1), []).append((rel, line, level))
        for m in EVENT_PAIR.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            events.setdefault(m.group(1), []).append((rel, line, "(written directly)"))
    return events, problems


def table_cells(row):
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)]


def doc_events(doc_path):
    """{event: [line numbers]} from the tables headed "Event"."""
    events = {}
    with open(doc_path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    in_table = False
    for number, line in enumerate(lines, 1):
        if not line.strip().startswith("|"):
            in_table = False
            continue
        cells = table_cells(line)
        if not in_table:
            in_table = True
            is_event_table = cells[0].lower() == "event"
            continue
        if not is_event_table or re.match(r"^:?-+:?$", cells[0]):
            continue
        m = re.match(r"^`([^`]+)`", cells[0])
        if m:
            events.setdefault(m.group(1), []).append(number)
    return events


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} REPO_ROOT", file=sys.stderr)
        return 2
    root = argv[1]
    doc_path = os.path.join(root, DOC)
    if not os.path.isfile(doc_path):
        print(f"{DOC} is missing", file=sys.stderr)
        return 1
    in_code, problems = code_events(root)
    in_doc = doc_events(doc_path)
    if not in_code:
        problems.append("no logEvent call found: is REPO_ROOT the repository root?")

    for name in sorted(set(in_code) - set(in_doc)):
        where = ", ".join(f"{p}:{l}" for p, l, _ in in_code[name])
        problems.append(f"not documented in {DOC}: {name} ({where})")
    for name in sorted(set(in_doc) - set(in_code)):
        where = ", ".join(str(l) for l in in_doc[name])
        problems.append(f"documented in {DOC} (line {where}) but logged nowhere: {name}")
    for name in sorted(n for n, rows in in_doc.items() if len(rows) > 1):
        problems.append(f"documented more than once in {DOC} (lines {', '.join(map(str, in_doc[name]))}): {name}")

    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"{len(in_code)} log events, each documented in {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
