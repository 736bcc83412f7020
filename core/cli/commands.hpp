// Commands of the gradlab CLI that live in their own files.
#pragma once

#include <string>
#include <vector>

namespace gradlab::cli {

// gradlab study plan|run|status ...
int study_command(const std::vector<std::string>& args);
// gradlab export DIR --format csv|json ...
int export_command(const std::vector<std::string>& args);

}  // namespace gradlab::cli
