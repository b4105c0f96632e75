# Rewrites the configuration-key table in README from common/config_keys.cpp (run from the
# repository root after adding or changing a key; --check only says whether it would change).
import re, textwrap, sys
src = open('common/config_keys.cpp').read()
keys = re.findall(r'^    \{"([a-z0-9-]+)", "([^"]*)", "((?:[^"\\]|\\.)*)"', src, re.M)
lines = ["    key                default          meaning"]
for k, d, m in keys:
    d = d or "empty"
    wrapped = textwrap.wrap(m, width=62, break_on_hyphens=True)
    lines.append(("    %-19s%-17s%s" % (k, d, wrapped[0])).rstrip())
    for w in wrapped[1:]:
        lines.append(" " * 40 + w)
readme = open('README').read()
start = readme.index("    key                default          meaning")
end = readme.index("\n\n", start)  # the table ends at the first blank line
new = readme[:start] + "\n".join(lines) + readme[end:]
if '--check' in sys.argv:
    print("same" if new == readme else "differs")
else:
    open('README', 'w').write(new)
