#pragma once

namespace gradlab {
class Registry;
// Adds digits, mnist, fashion_mnist and csv to a registry.
void register_builtin_datasets(Registry& registry);
}  // namespace gradlab
