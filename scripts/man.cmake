# man.cmake - writes OUT, the go-md2man source of a man page, from IN, a page
# of docs/: the title line, a NAME section, then IN with its own title left
# out and its headings raised one level (## becomes a section, ### a
# subsection).  So the man pages are docs/, and cannot disagree with them.
# Run by the man target of CMakeLists.txt with IN, OUT, TITLE (e.g.
# "CMPGW 8"), NAME (the NAME line) and VERSION.
file(READ "${IN}" text)
string(REGEX REPLACE "^# [^\n]*\n" "" text "${text}")
string(REGEX REPLACE "\n## " "\n# " text "${text}")
string(REGEX REPLACE "\n### " "\n## " text "${text}")
string(TIMESTAMP month "%B %Y" UTC)
file(WRITE "${OUT}" "% ${TITLE} \"${month}\" \"cmpgw ${VERSION}\" \"cmpgw manual\"\n\n# NAME\n\n${NAME}\n\n${text}")
