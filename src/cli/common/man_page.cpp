#include "common/man_page.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "common/facts.hpp"

namespace swapio::cli {
namespace {

// Text safe for troff: backslashes and hyphens escaped, no line starting with a control character.
std::string roff(const std::string& text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    line_start = c == '\n';
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
  }
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

void options(std::ostringstream& m, const CLI::App& app) {
  for (const CLI::Option* opt : app.get_options()) {
    std::string names = opt->get_name(false, true);  // "--read-file,--read_file"
    for (std::size_t at = names.find(','); at != std::string::npos; at = names.find(',', at + 2)) names.replace(at, 1, ", ");
    m << ".TP\n\\fB" << roff(names) << "\\fR";
    if (opt->get_type_size() != 0) m << " \\fI" << roff(opt->get_type_name()) << "\\fR";
    m << "\n" << roff(opt->get_description());
    if (!opt->get_default_str().empty()) m << " [default: " << roff(opt->get_default_str()) << "]";
    m << "\n";
  }
}

// A footer's "Examples:" lines as a literal block, the rest as text.
void footer(std::ostringstream& m, const std::string& text) {
  if (text.empty()) return;
  std::istringstream in(text);
  bool examples = false;
  for (std::string line; std::getline(in, line);) {
    if (line == "Examples:") {
      m << ".PP\nExamples:\n.RS\n.nf\n";
      examples = true;
      continue;
    }
    if (examples && line.rfind("  ", 0) != 0) {
      m << ".fi\n.RE\n";
      examples = false;
    }
    m << (examples ? roff(line.substr(2)) : ".PP\n" + roff(line)) << "\n";
  }
  if (examples) m << ".fi\n.RE\n";
}

}  // namespace

int write_man_page(const CLI::App& app, const char* path) {
  std::ostringstream m;
  m << ".TH SWAPIO 1 \"\" \"swapio " << roff(build_json().at("version").get<std::string>())
    << "\" \"User Commands\"\n";
  m << ".SH NAME\nswapio \\- " << roff(app.get_description().substr(app.get_description().find(':') + 2)) << "\n";
  m << ".SH SYNOPSIS\n";
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    m << ".B swapio " << roff(sub->get_name()) << "\n.RI [ options ]\n.br\n";
  }
  m << ".B ds_io\n.RI [ options ]\n.br\n.B swapio \\-\\-version\n";
  m << ".SH DESCRIPTION\n" << roff(app.get_description()) << ".\n";
  m << ".PP\nSizes take K, M, G or T suffixes (powers of 1024); GiB/s means 2^30 bytes per second, and the "
       "\"GB\" of the Task and E2E lines is 2^30 bytes too. Run as \\fBds_io\\fR (a link to swapio), the "
       "command is \\fBswapio ds_io\\fR.\n";
  m << ".SH OPTIONS\n";
  options(m, app);
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    m << ".SH \"SWAPIO " << roff(upper(sub->get_name())) << "\"\n" << roff(sub->get_description()) << "\n";
    options(m, *sub);
    footer(m, sub->get_footer());
  }
  m << ".SH \"EXIT STATUS\"\n.TP\n0\ndone (qualify: every floor met)\n.TP\n1\na run, a worker, the I/O or a floor "
       "failed\n.TP\n2\nbad arguments: one line on stderr naming the argument (with \\-\\-json also a JSON "
       "document on stdout); no file created or truncated\n.TP\n128+N\ninterrupted by signal N: the processes "
       "swapio started are stopped and waited for, the files a failed write created removed\n";
  m << ".SH ENVIRONMENT\n.TP\nSWAPIO_TEST_DIR\nwhere the functional tests put their files\n";
  m << ".SH \"SEE ALSO\"\n.BR fio (1)\n";
  std::ofstream out(path, std::ios::trunc);
  out << m.str();
  out.close();
  if (!out) {
    std::fprintf(stderr, "swapio __man: cannot write %s: %s\n", path, std::strerror(errno));
    return 1;
  }
  return 0;
}

}  // namespace swapio::cli
