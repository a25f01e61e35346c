#!/usr/bin/env bash
# Print the path of a working Python interpreter of the requested minor version.
# Usage: find_python.sh 3.10
# Looks on PATH first (pythonX.Y), then in pyenv's versions folder; never a fixed path.
set -u
want="${1:?usage: find_python.sh MAJOR.MINOR}"
works() { "$1" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$want'.split('.')))" >/dev/null 2>&1; }
if cand=$(command -v "python$want" 2>/dev/null) && works "$cand"; then echo "$cand"; exit 0; fi
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for cand in $(ls -d "$root"/versions/"$want".*/bin/python"$want" 2>/dev/null | sort -V -r); do
    if works "$cand"; then echo "$cand"; exit 0; fi
  done
fi
for cand in /usr/bin/python"$want" /usr/local/bin/python"$want"; do
  if [ -x "$cand" ] && works "$cand"; then echo "$cand"; exit 0; fi
done
cat >&2 <<MSG
error: no Python $want interpreter was found (looked for python$want on PATH and in pyenv).
  Python $want is required here. Provide it with one of:
    pyenv install $want          # then re-run make
    apt-get install python$want python$want-venv
    conda create -n py${want/./} python=$want   # and put its bin/ on PATH
  or point the Makefile at one: make PYTHON${want/./}=/path/to/python$want ...
MSG
exit 1
