// The model decorators (guidance, x0 hooks, imputation) as functions that wrap a model: each
// returns a FamilyModel holding the decorator and the family it was built under.
#pragma once

#include <tweedie/imputation.hpp>
#include <tweedie/model.hpp>

#include <string>
#include <vector>

namespace tweedie::python {

/// The outermost Imputation in `model`'s stack (through FamilyModels and decorators), or null:
/// `sample` writes its observation into the final samples, as `tweedie sample --observe` does.
const Imputation* imputation_of(const ScoreModel& model);

/// `model` without its FamilyModel wrappers.
const ScoreModel& unwrapped(const ScoreModel& model);

/// describe_stack through the FamilyModels between the decorators (each Python decorator wraps
/// its model in one): the decorators from the outermost inwards, one line each.
std::vector<std::string> decorator_lines(const ScoreModel& model);

}  // namespace tweedie::python
