#!/usr/bin/env python3
# Put a cover letter's text into the 0000 file `git format-patch
# --cover-letter` wrote: the first line of TEXT is the subject, the rest
# replaces "*** BLURB HERE ***".
#
#   vm/cover-letter.py 0000-cover-letter.patch TEXT
import sys

patch, text = sys.argv[1], open(sys.argv[2]).read()
subject, _, body = text.partition("\n")
s = open(patch).read()
if "*** SUBJECT HERE ***" not in s or "*** BLURB HERE ***" not in s:
    sys.exit(f"{patch}: not a fresh format-patch cover letter")
s = s.replace("*** SUBJECT HERE ***", subject.strip())
s = s.replace("*** BLURB HERE ***", body.strip("\n"))
open(patch, "w").write(s)
