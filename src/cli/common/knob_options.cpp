#include "common/knob_options.hpp"

#include "swapio/error.hpp"

namespace swapio::cli {
namespace {

std::string spelling(std::string_view flag, std::string_view alias) {
  return alias.empty() ? std::string(flag) : std::string(flag) + "," + std::string(alias);
}

}  // namespace

void add_knob_options(CLI::App& app, KnobArgs& args) {
  const Config defaults;
  for (const Knob& k : knobs()) {
    if (k.flag.empty()) continue;
    const std::string key(k.key);
    if (k.kind == KnobKind::flag) {
      args.options[key] = app.add_flag(spelling(k.flag, k.alias), args.on[key], std::string(k.help));
      if (!k.off_flag.empty()) {
        args.off_options[key] = app.add_flag(spelling(k.off_flag, k.off_alias), args.off[key], std::string(k.off_help));
      }
      continue;
    }
    std::string help(k.help);
    if (k.kind == KnobKind::choice && help.find('|') == std::string::npos) help += " (" + std::string(k.choices) + ")";
    const std::string type = k.kind == KnobKind::size ? "SIZE" : k.kind == KnobKind::count ? "NUMBER" : std::string(k.choices);
    args.options[key] = app.add_option(spelling(k.flag, k.alias), args.text[key], help)->type_name(type);
    if (k.bare.empty()) {
      args.options[key]->default_str(k.get(defaults));
    } else {
      // Given alone ("--gds") it means its bare value. CLI11 would take a default string as that
      // value: the default goes in the help instead.
      args.options[key]->expected(0, 1);
      args.options[key]->description(help + " [default: " + k.get(defaults) + "]");
    }
  }
}

void apply_knob_options(const KnobArgs& args, Config& config) {
  for (const Knob& k : knobs()) {
    if (k.flag.empty()) continue;
    const std::string key(k.key);
    if (k.kind == KnobKind::flag) {
      // A flag given as --flag or --flag=true/false; its off spelling means the opposite.
      const auto given = [&](const std::map<std::string, CLI::Option*>& options) {
        const auto it = options.find(key);
        return it != options.end() && it->second->count() > 0;
      };
      const bool on = given(args.options), off = given(args.off_options);
      if (on && off) throw ConfigError(std::string(k.flag) + " and " + std::string(k.off_flag) + " contradict each other");
      if (on) k.set(config, args.on.at(key) ? "true" : "false");
      if (off) k.set(config, args.off.at(key) ? "false" : "true");
      continue;
    }
    const auto it = args.text.find(key);
    if (it == args.text.end() || args.options.at(key)->count() == 0) continue;
    try {
      k.set(config, it->second.empty() && !k.bare.empty() ? k.bare : it->second);  // "--gds" alone
      k.check(config);
    } catch (const ConfigError& e) {
      throw ConfigError(std::string(k.flag) + " " + it->second + ": " + e.what());
    }
  }
}

bool knob_given(const KnobArgs& args, const std::string& key) {
  for (const auto* options : {&args.options, &args.off_options}) {
    const auto it = options->find(key);
    if (it != options->end() && it->second->count() > 0) return true;
  }
  return false;
}

nlohmann::json knobs_to_json(const Config& config) {
  nlohmann::json j = nlohmann::json::object();
  for (const Knob& k : knobs()) {
    const std::string key(k.key);
    switch (k.kind) {
      case KnobKind::size:
      case KnobKind::count: j[key] = k.number(config); break;
      case KnobKind::flag: j[key] = k.number(config) != 0; break;
      case KnobKind::choice: j[key] = k.get(config); break;
    }
  }
  return j;
}

void knob_from_json(const Knob& k, const nlohmann::json& v, Config& config, const std::string& where) {
  std::string text;
  switch (k.kind) {
    case KnobKind::size:
      if (v.is_number_integer() && v.get<std::int64_t>() >= 0) text = std::to_string(v.get<std::uint64_t>());
      else if (v.is_string()) text = v.get<std::string>();
      else throw ConfigError(where + ": expected a size such as 1048576 or \"1M\"");
      break;
    case KnobKind::count:
      if (!v.is_number_integer() || v.get<std::int64_t>() < static_cast<std::int64_t>(k.min) ||
          v.get<std::int64_t>() > static_cast<std::int64_t>(k.max)) {
        throw ConfigError(where + ": expected a whole number from " + std::to_string(k.min) + " to " + std::to_string(k.max));
      }
      text = std::to_string(v.get<std::int64_t>());
      break;
    case KnobKind::flag:
      if (!v.is_boolean()) throw ConfigError(where + ": expected true or false");
      text = v.get<bool>() ? "true" : "false";
      break;
    case KnobKind::choice:
      if (!v.is_string() || v.get<std::string>().empty()) throw ConfigError(where + ": expected a non-empty string");
      text = v.get<std::string>();
      break;
  }
  try {
    k.set(config, text);
    k.check(config);
  } catch (const ConfigError& e) {
    throw ConfigError(where + ": " + e.what());
  }
}

Config config_from_json(const nlohmann::json& j) {
  Config c;
  for (const Knob& k : knobs()) {
    if (j.contains(k.key)) knob_from_json(k, j.at(k.key), c, std::string(k.key));
  }
  return c;
}

std::vector<std::string> knob_argv(const Config& config) {
  const Config defaults;
  std::vector<std::string> argv;
  for (const Knob& k : knobs()) {
    const std::string value = k.get(config);
    if (k.flag.empty() || value == k.get(defaults)) continue;
    if (k.kind != KnobKind::flag) {
      argv.insert(argv.end(), {std::string(k.flag), value});
    } else if (value == "true") {
      argv.emplace_back(k.flag);
    } else if (!k.off_flag.empty()) {
      argv.emplace_back(k.off_flag);
    } else {
      throw ConfigError(std::string(k.key) + " false cannot be spelled on the command line");
    }
  }
  return argv;
}

}  // namespace swapio::cli
