// Everything a plugin author needs, in one include.
#pragma once

#include "gradlab/abi.hpp"
#include "gradlab/chain.hpp"
#include "gradlab/data.hpp"
#include "gradlab/elementwise.hpp"
#include "gradlab/initializer.hpp"
#include "gradlab/layer.hpp"
#include "gradlab/optimizer.hpp"
#include "gradlab/params.hpp"
#include "gradlab/plugin.hpp"
#include "gradlab/pretrain.hpp"
#include "gradlab/schedule.hpp"
#include "gradlab/types.hpp"
#include "gradlab/version.hpp"
