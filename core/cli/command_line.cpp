// The parsing every gradlab command shares: its options, plus any number of
// positional words (a subcommand, a spec file, a folder).
#include <sched.h>

#include <algorithm>
#include <iostream>
#include <new>
#include <thread>

#include "commands.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"

namespace gradlab::cli {

int report_error(std::exception_ptr error) {
  auto line = [](const char* prefix, const std::string& text, const char* suffix = "") {
    std::cerr << prefix << terminal_line(text) << suffix << "\n" << std::flush;
  };
  try {
    std::rethrow_exception(error);
  } catch (const InputError& e) {
    line("gradlab: error: ", e.what());
    return 2;
  } catch (const po::error& e) {
    line("gradlab: error: ", e.what(), " (see --help)");
    return 2;
  } catch (const OutputError& e) {
    line("gradlab: error: ", e.what());
  } catch (const std::bad_alloc&) {
    line("gradlab: error: ", "out of memory (try a smaller model or batch, or see --max-memory)");
  } catch (const std::exception& e) {
    line("gradlab: internal error: ", e.what());
  } catch (...) {
    line("gradlab: internal error: ", "an exception that is not a std::exception");
  }
  return 1;
}

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
