// swapio.Config for Python: keyword arguments named as swapio's knob table names them.
#include <string>

#include "binding.hpp"

using namespace pybind11::literals;

namespace swapio::python {
namespace {

// The knob Python calls `name`: its Config member's name or its JSON key (not its flags).
const Knob* knob_named(const std::string& name) {
  const Knob* k = find_knob(name);
  return k != nullptr && (name == k->name || name == k->key) ? k : nullptr;
}

// Config from keyword arguments named as the knob table names them (Config's members, or their
// JSON keys): sizes and counts as int (sizes also as "1M"), flags as bool, choices as str.
void apply_knobs(Config& c, const py::dict& knobs) {
  for (auto [key, value] : knobs) {
    const std::string name = py::str(key);
    const Knob* k = knob_named(name);
    if (k == nullptr) {
      std::string names;
      for (const Knob& knob : swapio::knobs()) {
        if (!names.empty()) names += ", ";
        names += knob.name;
      }
      raise_config("unknown knob '" + name + "' (knobs: " + names + ")");
    }
    std::string text;
    if (k->kind == KnobKind::flag) {
      if (!py::isinstance<py::bool_>(value)) {
        raise_config(std::string(k->name) + " takes True or False, not " + std::string(py::repr(value)));
      }
      text = value.cast<bool>() ? "true" : "false";
    } else if (k->kind == KnobKind::choice) {
      if (!py::isinstance<py::str>(value)) {
        raise_config(std::string(k->name) + " takes one of " + std::string(k->choices) + ", not " +
                     std::string(py::repr(value)));
      }
      text = value.cast<std::string>();
    } else if (py::isinstance<py::bool_>(value)) {
      raise_config(std::string(k->name) + " takes a number, not " + std::string(py::repr(value)));
    } else if (py::isinstance<py::int_>(value)) {
      text = std::string(py::str(value));
    } else if (k->kind == KnobKind::size && py::isinstance<py::str>(value)) {
      text = value.cast<std::string>();
    } else {
      raise_config(std::string(k->name) + " takes " +
                   (k->kind == KnobKind::size ? "an int or a size such as '1M'" : "an int") + ", not " +
                   std::string(py::repr(value)));
    }
    try {
      k->set(c, text);
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      if (what.rfind(std::string(k->name), 0) == 0) throw;
      raise_config(std::string(k->name) + ": " + what);
    }
  }
  c.validate();
}

py::object knob_value(const Config& c, const Knob& k) {
  switch (k.kind) {
    case KnobKind::flag: return py::bool_(k.number(c) != 0);
    case KnobKind::choice: return py::str(k.get(c));
    default: return py::int_(k.number(c));
  }
}

py::dict config_dict(const Config& c) {
  py::dict d;
  for (const Knob& k : knobs()) d[py::str(std::string(k.name))] = knob_value(c, k);
  return d;
}

}  // namespace

void bind_config(py::module_& m) {
  py::class_<Config>(m, "Config", R"(The knobs of a transfer, by the names of swapio's knob table.

Config(block_size=..., queue_depth=..., single_submit=..., overlap_events=...,
       intra_op_parallelism=..., engine=..., direct=..., register_files=...,
       register_buffers=..., staging=..., device_chunk_size=..., device_chunks=...,
       sync=..., atomic_replace=...)

Sizes take an int or a string such as "1M"; flags take bool; engine is "auto", "uring",
"aio" or "psync"; direct "auto", "on" or "off"; staging "auto", "always" or "never".
Unknown names and values that break a knob's rule raise swapio.ConfigError. Knobs not
given keep swapio's defaults (queue_depth 32, overlap_events True, ...).)")
      .def(py::init([](const py::kwargs& knobs) {
        Config c;
        apply_knobs(c, knobs);
        return c;
      }))
      .def(
          "replace",
          [](const Config& self, const py::kwargs& knobs) {
            Config c = self;
            apply_knobs(c, knobs);
            return c;
          },
          "A copy with the given knobs changed.")
      .def("to_dict", &config_dict, "Every knob's value, by name.")
      .def("__getattr__",
           [](const Config& c, const std::string& name) -> py::object {
             const Knob* k = knob_named(name);
             if (k == nullptr) {
               throw py::attribute_error("swapio.Config has no knob '" + name + "'");
             }
             return knob_value(c, *k);
           })
      .def("__eq__", [](const Config& a, const Config& b) { return config_dict(a).equal(config_dict(b)); })
      .def("__repr__", [](const Config& c) {
        std::string s = "swapio.Config(";
        bool first = true;
        for (const Knob& k : knobs()) {
          s += (first ? "" : ", ") + std::string(k.name) + "=" + std::string(py::repr(knob_value(c, k)));
          first = false;
        }
        return s + ")";
      });

  m.def("knob_names", [] {
    std::vector<std::string> names;
    for (const Knob& k : knobs()) names.emplace_back(k.name);
    return names;
  });
}

}  // namespace swapio::python
