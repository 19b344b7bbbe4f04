#!/usr/bin/env python3
"""Check that a shaded job-server jar links across a version seam.

The registry we build from lacks beam-runners-java-job-service at the Beam version of the
runners, so the poms pin an older job service (see docs/runners.md). This script reads the
bytecode of the shaded jar with `javap` and checks both directions of that seam: every method,
constructor and field that the job-service classes use elsewhere in the jar exists, and every
one that the runner classes use in the job service exists (looking through superclasses and
interfaces; members of JDK classes are taken as present). It prints the count checked and exits
non-zero, listing them, if any is missing.

Usage: check_links.py JAR [--seam org.apache.beam.runners.jobsubmission]
       [--callers org.apache.beam.runners.flink ...]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field

# javap leaves the owner out when it is the class being disassembled (calls through `this`).
REF = re.compile(r"// (?:Method|InterfaceMethod|Field) (?:([\w/$]+)\.)?(\"?[\w<>$]+\"?):(\S+)")
CLASS_HEADER = re.compile(r"^(?:[\w ]+ )?(?:class|interface|enum|record) ([\w.$]+)(?:<.*?>)?(.*)\{$")
MEMBER_NAME = re.compile(r"^\s+(?:[\w.<>,\[\]$ ?]+ )?([\w.$<>]+)\(")
FIELD_NAME = re.compile(r"^\s+[\w.<>,\[\]$ ?]+ ([\w$]+);$")
DESCRIPTOR = re.compile(r"^\s+descriptor: (\S+)$")
BATCH = 200


@dataclass
class ClassInfo:
    supers: list[str] = field(default_factory=list)
    members: set[tuple[str, str]] = field(default_factory=set)


def jar_classes(jar: str) -> set[str]:
    with zipfile.ZipFile(jar) as z:
        return {
            n[: -len(".class")].replace("/", ".")
            for n in z.namelist()
            if n.endswith(".class") and not n.endswith("module-info.class") and not n.startswith("META-INF/")
        }


def javap(jar: str, names: Iterable[str], *flags: str) -> str:
    names = sorted(names)
    chunks = []
    for i in range(0, len(names), BATCH):
        done = subprocess.run(["javap", *flags, "-cp", jar, *names[i : i + BATCH]], capture_output=True, text=True)
        chunks.append(done.stdout)
    return "\n".join(chunks)


def references(jar: str, callers: set[str], target: str) -> set[tuple[str, str, str]]:
    """(class, member, descriptor) used by `callers` in classes named `target`..., or through `this`."""
    refs = set()
    current = ""
    for line in javap(jar, callers, "-c", "-p").splitlines():
        if (header := CLASS_HEADER.match(line)) and not line.startswith(" "):
            current = header.group(1)
        elif match := REF.search(line):
            owner = match.group(1).replace("/", ".") if match.group(1) else current
            # Calls through `this` may land in a member inherited across the seam: keep them all.
            through_this = match.group(1) is None
            if through_this or (owner.startswith(target) and owner not in callers):
                refs.add((owner, match.group(2).strip('"'), match.group(3)))
    return refs


def parse_classes(text: str) -> dict[str, ClassInfo]:
    infos: dict[str, ClassInfo] = {}
    current: ClassInfo | None = None
    simple = last = ""
    for line in text.splitlines():
        header = CLASS_HEADER.match(line)
        if header and not line.startswith(" "):
            current = infos.setdefault(header.group(1), ClassInfo())
            simple = header.group(1).rsplit(".", 1)[-1]
            rest = re.sub(r"<[^<>]*(?:<[^<>]*>[^<>]*)*>", "", header.group(2))
            current.supers = re.findall(r"[\w.$]+", rest.replace("extends", " ").replace("implements", " "))
            continue
        if current is None:
            continue
        if m := MEMBER_NAME.match(line):
            last = m.group(1).rsplit(".", 1)[-1]
            last = "<init>" if last == simple else last
        elif m := FIELD_NAME.match(line):
            last = m.group(1)
        elif (m := DESCRIPTOR.match(line)) and line.startswith("    descriptor"):
            current.members.add((last, m.group(1)))
    return infos


def resolve(jar: str, in_jar: set[str], refs: set[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    infos: dict[str, ClassInfo] = {}

    def load(names: set[str]) -> None:
        wanted = {n for n in names if n in in_jar and n not in infos}
        if wanted:
            infos.update(parse_classes(javap(jar, wanted, "-p", "-s")))

    def has(owner: str, name: str, desc: str, seen: set[str]) -> bool:
        if owner in seen:
            return False
        seen.add(owner)
        if owner not in in_jar:
            return True  # a JDK class: the JVM provides its members
        load({owner})
        info = infos.get(owner)
        if info is None:
            return False
        if any(n == name and (d == desc or not desc.startswith("(")) for n, d in info.members):
            return True
        load(set(info.supers))
        return any(has(s, name, desc, seen) for s in info.supers)

    load({owner for owner, _, _ in refs})
    return [
        (owner, name, desc)
        for owner, name, desc in sorted(refs)
        if owner in in_jar and not has(owner, name, desc, set())
    ] + [(owner, "(class missing)", "") for owner in sorted({o for o, _, _ in refs} - in_jar)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jar")
    parser.add_argument("--seam", default="org.apache.beam.runners.jobsubmission", help="package of the pinned module")
    parser.add_argument(
        "--callers",
        nargs="+",
        default=["org.apache.beam.runners"],
        help="packages of the runner classes that call into the seam",
    )
    args = parser.parse_args(argv)
    in_jar = jar_classes(args.jar)
    seam = {c for c in in_jar if c.startswith(args.seam + ".")}
    callers = {c for c in in_jar if c.startswith(tuple(p + "." for p in args.callers))} - seam
    if not seam:
        print(f"{args.jar}: no classes under {args.seam}", file=sys.stderr)
        return 2
    outward = {r for r in references(args.jar, seam, "") if r[0] in in_jar or r[0].startswith("org.apache.beam.")}
    inward = references(args.jar, callers, args.seam + ".")
    missing = resolve(args.jar, in_jar, outward | inward)
    print(
        f"{args.jar}: checked {len(outward)} references made by {args.seam} and {len(inward)} made by "
        f"{', '.join(args.callers)} (calls through `this` included); {len(missing)} missing"
    )
    for owner, name, desc in missing:
        print(f"  missing: {owner}.{name}{desc}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
