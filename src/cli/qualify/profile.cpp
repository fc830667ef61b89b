#include "qualify/profile.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "common/knob_options.hpp"
#include "common/report_text.hpp"
#include "step/step_options.hpp"
#include "swapio/device.hpp"
#include "swapio/error.hpp"

namespace swapio::cli {
namespace {

void check_keys(const nlohmann::json& j, const std::set<std::string>& allowed, const std::string& where) {
  if (!j.is_object()) throw ConfigError(where + ": expected an object");
  for (const auto& [key, value] : j.items()) {
    if (!allowed.contains(key)) {
      std::string list;
      for (const auto& k : allowed) list += (list.empty() ? "" : ", ") + k;
      throw ConfigError(where + ": unknown key '" + key + "' (known: " + list + ")");
    }
  }
}

std::uint64_t size_value(const nlohmann::json& v, const std::string& where) {
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::uint64_t>();
  if (v.is_string()) {
    try {
      return parse_size(v.get<std::string>());
    } catch (const ConfigError& e) {
      throw ConfigError(where + ": " + e.what());
    }
  }
  throw ConfigError(where + ": expected a size such as 1048576 or \"1M\"");
}

unsigned count_value(const nlohmann::json& v, const std::string& where, unsigned lo, unsigned hi) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < static_cast<std::int64_t>(lo) ||
      v.get<std::int64_t>() > static_cast<std::int64_t>(hi)) {
    throw ConfigError(where + ": expected a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
  }
  return v.get<unsigned>();
}

double floor_value(const nlohmann::json& v, const std::string& where) {
  if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1e6) {
    throw ConfigError(where + ": expected a number >= 0");
  }
  return v.get<double>();
}

std::string string_value(const nlohmann::json& v, const std::string& where) {
  if (!v.is_string() || v.get<std::string>().empty()) throw ConfigError(where + ": expected a non-empty string");
  return v.get<std::string>();
}

// A profile key as a command-line option's name: sub_group_size -> sub-group-size.
std::string dashed(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

// "op": "step": the `swapio step` arguments the keys give, and the step's floors.
Workload parse_step_workload(const nlohmann::json& j, const std::string& where) {
  check_keys(j, {"name", "op", "params", "ranks", "world_size", "sub_group_size", "optimizer", "swap_grads", "schedule",
                 "compute", "steps", "warmup_steps", "floor_vs_lower_bound", "floor_step_seconds", "floor_gib_per_s"},
             where);
  Workload w;
  w.name = j.at("name").get<std::string>();
  w.step = true;
  if (!j.contains("params")) throw ConfigError(where + ": 'params' is missing (the model's parameters: 350M, 7B)");
  const auto text = [&](const char* key) {
    const nlohmann::json& v = j.at(key);
    if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
    return string_value(v, where + "." + key);
  };
  for (const char* key : {"params", "world_size", "sub_group_size"}) {
    if (!j.contains(key)) continue;
    (void)parse_count(text(key), where + "." + key);
    w.step_args.insert(w.step_args.end(), {"--" + dashed(key), text(key)});
  }
  // A node is judged on swapio's schedule, I/O alone, unless the profile says otherwise.
  for (const auto& [key, fallback] : {std::pair{"optimizer", "adam"}, {"schedule", "swapio"}, {"compute", "none"}}) {
    w.step_args.insert(w.step_args.end(), {"--" + dashed(key), j.contains(key) ? text(key) : std::string(fallback)});
  }
  if (j.contains("swap_grads")) {
    if (!j.at("swap_grads").is_boolean()) throw ConfigError(where + ".swap_grads: expected true or false");
    w.step_args.insert(w.step_args.end(), {"--swap-grads", j.at("swap_grads").get<bool>() ? "on" : "off"});
  }
  if (j.contains("ranks")) w.processes = count_value(j.at("ranks"), where + ".ranks", 1, 256);
  w.step_args.insert(w.step_args.end(), {"--ranks", std::to_string(w.processes)});
  if (j.contains("steps")) w.step_args.insert(w.step_args.end(), {"--steps", std::to_string(count_value(j.at("steps"), where + ".steps", 1, 1000))});
  if (j.contains("warmup_steps")) {
    w.step_args.insert(w.step_args.end(), {"--warmup-steps", std::to_string(count_value(j.at("warmup_steps"), where + ".warmup_steps", 0, 1000))});
  }
  if (j.contains("floor_gib_per_s")) w.floor_gib_per_s = floor_value(j.at("floor_gib_per_s"), where + ".floor_gib_per_s");
  if (j.contains("floor_vs_lower_bound")) w.floor_vs_lower_bound = floor_value(j.at("floor_vs_lower_bound"), where + ".floor_vs_lower_bound");
  if (j.contains("floor_step_seconds")) w.floor_step_seconds = floor_value(j.at("floor_step_seconds"), where + ".floor_step_seconds");
  if (!w.floor_gib_per_s && !w.floor_vs_lower_bound && !w.floor_step_seconds) {
    throw ConfigError(where + ": no floor (give floor_vs_lower_bound, floor_step_seconds or floor_gib_per_s)");
  }
  return w;
}

Workload parse_workload(const nlohmann::json& j, const std::string& at) {
  if (!j.is_object()) throw ConfigError(at + ": expected an object");
  const std::string named = j.contains("name") && j.at("name").is_string() ? at + " (" + j.at("name").get<std::string>() + ")" : at;
  if (j.contains("op") && j.at("op") == "step") {
    if (!j.contains("name")) throw ConfigError(at + ": 'name' is missing");
    (void)string_value(j.at("name"), at + ".name");
    return parse_step_workload(j, named);
  }
  std::set<std::string> allowed = {"name", "op", "size", "processes", "handle", "device", "loops", "warmup_loops",
                                   "floor_gib_per_s", "floor_vs_fio", "floor_vs_ceiling", "floor_round_vs_ceiling"};
  for (const Knob& k : knobs()) allowed.emplace(k.key);
  check_keys(j, allowed, named);
  Workload w;
  if (!j.contains("name")) throw ConfigError(at + ": 'name' is missing");
  w.name = string_value(j.at("name"), at + ".name");
  const std::string where = at + " (" + w.name + ")";
  if (!j.contains("op")) throw ConfigError(where + ": 'op' is missing (read, write or step)");
  const std::string op = string_value(j.at("op"), where + ".op");
  if (op != "read" && op != "write") throw ConfigError(where + ".op: '" + op + "' is not read, write or step");
  w.write = op == "write";
  if (!j.contains("size")) throw ConfigError(where + ": 'size' is missing (bytes per process)");
  w.size = size_value(j.at("size"), where + ".size");
  if (w.size == 0) throw ConfigError(where + ".size: 0 moves nothing");
  for (const Knob& k : knobs()) {
    if (j.contains(k.key)) knob_from_json(k, j.at(k.key), w.config, where + "." + std::string(k.key));
  }
  if (!w.write && (w.config.sync || w.config.atomic_replace)) {
    throw ConfigError(where + ": " + (w.config.atomic_replace ? "atomic_replace" : "sync") + " applies to writes, not to a read");
  }
  if (j.contains("processes")) w.processes = count_value(j.at("processes"), where + ".processes", 1, 256);
  if (j.contains("loops")) w.loops = count_value(j.at("loops"), where + ".loops", 1, 1000);
  if (j.contains("warmup_loops")) w.warmup_loops = count_value(j.at("warmup_loops"), where + ".warmup_loops", 0, 1000);
  if (j.contains("handle")) {
    if (!j.at("handle").is_boolean()) throw ConfigError(where + ".handle: expected true or false");
    w.handle = j.at("handle").get<bool>();
  }
  if (j.contains("device")) {
    w.device = string_value(j.at("device"), where + ".device");
    try {
      (void)parse_device_spec(w.device);
    } catch (const ConfigError& e) {
      throw ConfigError(where + ".device: " + e.what());
    }
  }
  if (j.contains("floor_gib_per_s")) w.floor_gib_per_s = floor_value(j.at("floor_gib_per_s"), where + ".floor_gib_per_s");
  if (j.contains("floor_vs_fio")) w.floor_vs_fio = floor_value(j.at("floor_vs_fio"), where + ".floor_vs_fio");
  if (j.contains("floor_vs_ceiling")) w.floor_vs_ceiling = floor_value(j.at("floor_vs_ceiling"), where + ".floor_vs_ceiling");
  if (j.contains("floor_round_vs_ceiling")) {
    w.floor_round_vs_ceiling = floor_value(j.at("floor_round_vs_ceiling"), where + ".floor_round_vs_ceiling");
  }
  if (!w.floor_gib_per_s && !w.floor_vs_fio && !w.floor_vs_ceiling && !w.floor_round_vs_ceiling) {
    throw ConfigError(where + ": no floor (give floor_gib_per_s, floor_vs_fio, floor_vs_ceiling or floor_round_vs_ceiling)");
  }
  try {
    w.config.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(where + ": " + e.what());
  }
  return w;
}

}  // namespace

Profile parse_profile(const nlohmann::json& j, const std::string& origin) {
  const std::string at = "profile " + origin;
  check_keys(j, {"name", "description", "rounds", "fleet", "workloads"}, at);
  Profile p;
  if (!j.contains("name")) throw ConfigError(at + ": 'name' is missing");
  p.name = string_value(j.at("name"), at + ": name");
  if (j.contains("description")) p.description = string_value(j.at("description"), at + ": description");
  if (j.contains("rounds")) p.rounds = count_value(j.at("rounds"), at + ": rounds", 1, 1000);
  if (j.contains("fleet")) {
    const nlohmann::json& f = j.at("fleet");
    if (!f.is_object()) throw ConfigError(at + ": fleet: expected an object");
    check_keys(f, {"outlier_fraction", "outlier_mads"}, at + ": fleet");
    const auto number = [&](const char* key, double lo, double hi) {
      const nlohmann::json& v = f.at(key);
      if (!v.is_number() || v.get<double>() < lo || v.get<double>() > hi) {
        throw ConfigError(at + ": fleet." + key + ": expected a number from " + fmt("%g", lo) + " to " + fmt("%g", hi));
      }
      return v.get<double>();
    };
    if (f.contains("outlier_fraction")) p.outlier_fraction = number("outlier_fraction", 0, 1);
    if (f.contains("outlier_mads")) p.outlier_mads = number("outlier_mads", 0, 100);
  }
  if (!j.contains("workloads") || !j.at("workloads").is_array() || j.at("workloads").empty()) {
    throw ConfigError(at + ": 'workloads' must be a non-empty list");
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < j.at("workloads").size(); ++i) {
    Workload w = parse_workload(j.at("workloads")[i], at + ": workloads[" + std::to_string(i) + "]");
    if (!names.insert(w.name).second) throw ConfigError(at + ": two workloads are named '" + w.name + "'");
    p.workloads.push_back(std::move(w));
  }
  return p;
}

Profile parse_profile_text(std::string_view text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // Not only parse_error: a number too large for a double ("1e400") is out_of_range.
    throw ConfigError("profile " + origin + ": not valid JSON (" + e.what() + ")");
  }
  return parse_profile(j, origin);
}

Profile load_profile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("profile " + path + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError("profile " + path + ": cannot be read");
  return parse_profile_text(text.str(), path);
}

std::vector<int> parse_gpu_list(const std::string& list, int visible, const std::string& why) {
  if (visible == 0) throw ConfigError("--gpus " + list + ": no CUDA device is visible (" + why + ")");
  std::vector<int> out;
  if (list == "all") {
    for (int i = 0; i < visible; ++i) out.push_back(i);
    return out;
  }
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    int n = -1;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
    if (item.empty() || ec != std::errc{} || end != item.data() + item.size() || n < 0) {
      throw ConfigError("--gpus " + list + ": '" + item + "' is not a GPU number (give all, or numbers such as 0,1)");
    }
    if (n >= visible) {
      throw ConfigError("--gpus " + list + ": GPU " + item + " is not visible (" + std::to_string(visible) +
                        " visible: 0.." + std::to_string(visible - 1) + ")");
    }
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  if (out.empty()) throw ConfigError("--gpus: the list is empty (give all, or numbers such as 0,1)");
  return out;
}

Profile expand_gpu_workloads(Profile profile, const std::vector<int>& ordinals) {
  std::vector<Workload> out;
  bool any = false;
  for (Workload& w : profile.workloads) {
    if (w.device.empty() || w.device == "emulated") {
      out.push_back(std::move(w));
      continue;
    }
    any = true;
    for (int k : ordinals) {
      Workload copy = w;
      copy.device = "cuda:" + std::to_string(k);
      copy.name = w.name + "@" + copy.device;
      out.push_back(std::move(copy));
    }
  }
  if (!any) {
    throw ConfigError("--gpus: profile " + profile.name + " has no GPU workload (one with \"device\": \"cuda\")");
  }
  profile.workloads = std::move(out);
  return profile;
}

}  // namespace swapio::cli
