# cmake/embed.cmake — turns files into a C source of byte arrays, at build time.
#   cmake -DOUT=file.c -DSYMBOL=name -DINPUT=file -P embed.cmake
# defines `const char SYMBOL[]` (NUL-terminated) and `const size_t SYMBOL_len`.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR byte_len "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}" "/* generated from ${SYMBOL} by cmake/embed.cmake: do not edit */\n#include <stddef.h>\nconst char ${SYMBOL}[] = {\n${bytes}0x00};\nconst size_t ${SYMBOL}_len = ${byte_len};\n")
