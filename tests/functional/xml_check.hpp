// Whether text is well-formed XML (libexpat), and how many elements of a name it holds: the
// JUnit and SVG reports the command writes are checked through it.
#pragma once

#include <expat.h>

#include <string>

namespace swapio::test {

// Whether text is well-formed XML, and the number of elements named `name` in it.
struct XmlCheck {
  bool well_formed = false;
  std::string error;
  int count = 0;
};
inline XmlCheck parse_xml(const std::string& text, const std::string& name) {
  XmlCheck c;
  struct Ctx {
    const std::string* name;
    int count;
  } ctx{&name, 0};
  XML_Parser p = XML_ParserCreate(nullptr);
  XML_SetUserData(p, &ctx);
  XML_SetStartElementHandler(p, [](void* data, const XML_Char* el, const XML_Char**) {
    auto* x = static_cast<Ctx*>(data);
    if (*x->name == el) ++x->count;
  });
  c.well_formed = XML_Parse(p, text.data(), static_cast<int>(text.size()), 1) == XML_STATUS_OK;
  if (!c.well_formed) c.error = XML_ErrorString(XML_GetErrorCode(p));
  c.count = ctx.count;
  XML_ParserFree(p);
  return c;
}

}  // namespace swapio::test
