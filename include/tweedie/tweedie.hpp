// Everything public in one include.
#pragma once

#include <tweedie/data_encoding.hpp>
#include <tweedie/decorator.hpp>
#include <tweedie/elbo.hpp>
#include <tweedie/encode.hpp>
#include <tweedie/gaussian_mixture.hpp>
#include <tweedie/grid.hpp>
#include <tweedie/guidance.hpp>
#include <tweedie/imputation.hpp>
#include <tweedie/likelihood.hpp>
#include <tweedie/metrics.hpp>
#include <tweedie/model.hpp>
#include <tweedie/npy.hpp>
#include <tweedie/observer.hpp>
#include <tweedie/parallel.hpp>
#include <tweedie/random.hpp>
#include <tweedie/reverse.hpp>
#include <tweedie/sample.hpp>
#include <tweedie/sampler.hpp>
#include <tweedie/sampler_grid.hpp>
#include <tweedie/sde.hpp>
#include <tweedie/split.hpp>
#include <tweedie/time_input.hpp>
#include <tweedie/types.hpp>
#include <tweedie/x0_hooks.hpp>
