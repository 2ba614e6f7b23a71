#!/usr/bin/env python3
"""promcheck.py FILE [NAME{LABELS}=VALUE ...] - a strict check of Prometheus text format 0.0.4 (what
node_exporter's textfile collector reads), for where promtool is missing.

Checks: every line is a HELP, TYPE or sample line; names and label names are
valid, label values use only the \\\\ \\" \\n escapes; each family has one
HELP and one TYPE, before its samples, and its samples are contiguous; no
sample (name + labels) twice; values are numbers, counters non-negative and
named *_total; histograms have increasing le buckets, cumulative counts,
a +Inf bucket equal to _count, and a _sum.  Arguments after FILE of the form
NAME{LABELS}=VALUE check those samples' values as written.  Prints
"promcheck: OK ..." and exits 0, or prints every problem and exits 1.
"""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s=%s)(?:,%s=%s)*)?,?\})? (\S+)(?: (-?\d+))?$"
                    % (NAME, LABEL, VALUE, LABEL, VALUE))
PAIR = re.compile(r"(%s)=(%s)" % (LABEL, VALUE))
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def number(s):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("+", ""))
    if not re.match(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$", s):
        raise ValueError(s)
    return float(s)


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) in (
                "histogram", "summary"):
            return name[: -len(suffix)]
    return name


def check(text):
    errs = []
    helps, types, done, seen = {}, {}, set(), {}
    current = None
    hist = {}   # (family, labels without le) -> {"buckets": [], ...}
    if not text.endswith("\n"):
        errs.append("no newline at the end")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d" % n
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) (%s)(?: (.*))?$" % NAME, line)
            if not m:
                if line.startswith("# HELP") or line.startswith("# TYPE"):
                    errs.append("%s: bad %s" % (where, line[:40]))
                continue
            kind, name, rest = m.group(1), m.group(2), m.group(3) or ""
            table = helps if kind == "HELP" else types
            if name in table:
                errs.append("%s: second %s for %s" % (where, kind, name))
            if name in done or name == current:
                errs.append("%s: %s for %s after its samples" % (where, kind, name))
            if kind == "TYPE":
                if rest not in TYPES:
                    errs.append("%s: unknown type %r" % (where, rest))
            elif re.search(r"\\[^\\n]", rest):
                errs.append("%s: bad escape in HELP" % where)
            table[name] = rest
            continue
        if line.strip() == "":
            errs.append("%s: empty line" % where)
            continue
        m = SAMPLE.match(line)
        if not m:
            errs.append("%s: not a sample: %r" % (where, line[:80]))
            continue
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        fam = family_of(name, types)
        if fam not in types:
            errs.append("%s: %s has no TYPE before it" % (where, name))
        if fam not in helps:
            errs.append("%s: %s has no HELP before it" % (where, name))
        if fam != current:
            if fam in done:
                errs.append("%s: samples of %s are not together" % (where, fam))
            if current is not None:
                done.add(current)
            current = fam
        pairs = PAIR.findall(labels)
        names = [p[0] for p in pairs]
        if len(set(names)) != len(names):
            errs.append("%s: a label twice" % where)
        key = (name, tuple(sorted(pairs)))
        if key in seen:
            errs.append("%s: same sample as line %d" % (where, seen[key]))
        seen[key] = n
        try:
            v = number(value)
        except ValueError:
            errs.append("%s: value %r is not a number" % (where, value))
            continue
        t = types.get(fam)
        if t == "counter":
            if not name.endswith("_total"):
                errs.append("%s: counter %s not named *_total" % (where, name))
            if v < 0 or math.isnan(v):
                errs.append("%s: counter %s is %s" % (where, name, value))
        if t == "histogram":
            rest = tuple(sorted(p for p in pairs if p[0] != "le"))
            h = hist.setdefault((fam, rest), {"buckets": [], "sum": None,
                                              "count": None})
            if name == fam + "_bucket":
                le = [p[1] for p in pairs if p[0] == "le"]
                if len(le) != 1:
                    errs.append("%s: bucket without le" % where)
                    continue
                h["buckets"].append((number(le[0].strip('"')), v, n))
            elif name == fam + "_sum":
                h["sum"] = v
            elif name == fam + "_count":
                h["count"] = v
            else:
                errs.append("%s: %s in histogram %s" % (where, name, fam))
    for (fam, rest), h in hist.items():
        what = "%s%s" % (fam, dict(rest))
        b = h["buckets"]
        les = [x[0] for x in b]
        if les != sorted(les) or len(set(les)) != len(les):
            errs.append("%s: le not increasing" % what)
        counts = [x[1] for x in b]
        if counts != sorted(counts):
            errs.append("%s: bucket counts not cumulative" % what)
        if not b or b[-1][0] != float("inf"):
            errs.append("%s: no +Inf bucket" % what)
        elif h["count"] != b[-1][1]:
            errs.append("%s: _count %s != +Inf bucket %s" % (what, h["count"], b[-1][1]))
        if h["sum"] is None:
            errs.append("%s: no _sum" % what)
    return errs, seen, len(types)


def main(argv):
    path, want = argv[1], argv[2:]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    errs, seen, nfam = check(text)
    values = {}
    for line in text.split("\n"):
        if line and not line.startswith("#"):
            values[line.rsplit(" ", 1)[0]] = line.rsplit(" ", 1)[1]
    for w in want:
        key, val = w.rsplit("=", 1)
        if values.get(key) != val:
            errs.append("%s: got %s, want %s" % (key, values.get(key), val))
    for e in errs:
        print("promcheck: %s: %s" % (path, e))
    if errs:
        return 1
    print("promcheck: OK, %d families, %d samples" % (nfam, len(seen)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
