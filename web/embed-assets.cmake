# Embed the dashboard's assets (CSS, JS) into a C file, run at build time:
#   cmake -DOUT=web-assets.c -DASSETS="a.css;b.js" -P embed-assets.cmake
# so an installed miglab writes a complete site with no data files.
set(body "/* Generated from web/assets/ by web/embed-assets.cmake: do not edit. */\n#include <stddef.h>\n\n#include \"web-internal.h\"\n#include \"ml-common.h\"\n\n")
set(table "")
set(i 0)
foreach(f IN LISTS ASSETS)
  get_filename_component(name ${f} NAME)
  file(READ ${f} hex HEX)
  string(LENGTH "${hex}" hexlen)
  math(EXPR len "${hexlen} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(APPEND body "static const unsigned char asset_${i}[] = { ${bytes} 0x00 };\n")
  string(APPEND table "\t{ \"${name}\", asset_${i}, ${len} },\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND body "\nconst struct web_asset web_assets[] = {\n${table}};\nconst size_t web_n_assets = ${i};\n")
file(WRITE ${OUT}.tmp "${body}")
file(RENAME ${OUT}.tmp ${OUT})
