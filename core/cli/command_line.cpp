// The parsing every gradlab command shares: its options, plus any number of
// positional words (a subcommand, a spec file, a folder).
#include <sched.h>

#include <algorithm>
#include <thread>

#include "commands.hpp"

namespace gradlab::cli {

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

CommandLine parse_command_line(const std::vector<std::string>& args, const po::options_description& options) {
  po::options_description hidden;
  hidden.add_options()("words", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("words", -1);
  CommandLine line;
  po::store(po::command_line_parser(args).options(all).positional(positional).run(), line.vm);
  po::notify(line.vm);
  if (line.vm.count("words")) line.words = line.vm["words"].as<std::vector<std::string>>();
  return line;
}

}  // namespace gradlab::cli
