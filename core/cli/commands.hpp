// Commands of the gradlab CLI that live in their own files.
#pragma once

#include <boost/program_options.hpp>
#include <exception>
#include <string>
#include <vector>

namespace gradlab::cli {

namespace po = boost::program_options;

// A command's options and its positional words, in order.
struct CommandLine {
  po::variables_map vm;
  std::vector<std::string> words;
};
// Parses `args` against `options`, collecting every positional argument into
// `words`. Throws po::error on an unknown or malformed option.
CommandLine parse_command_line(const std::vector<std::string>& args, const po::options_description& options);

// Writes the one line the CLI prints for an exception that ends a command
// ("gradlab: error: ..." on stderr) and returns the exit code it ends with:
// 2 for bad input (InputError, a malformed option), 1 for anything else.
int report_error(std::exception_ptr error);

// The CPUs this process may run on (its affinity: taskset, mpirun's binding,
// Slurm's --cpus-per-task), as nproc counts them.
int usable_cpus();

// gradlab study plan|run|status ...
int study_command(const std::vector<std::string>& args);
// gradlab export DIR --format csv|json ...
int export_command(const std::vector<std::string>& args);
// gradlab report DIR [-o FILE.html]
int report_command(const std::vector<std::string>& args);
// gradlab bifurcation [--w W --b-min B --b-max B --x0 X ...] [-o FILE]
int bifurcation_command(const std::vector<std::string>& args);

}  // namespace gradlab::cli
