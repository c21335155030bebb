#include "app/suite/run_checks.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "core/hdf5_writer.h"

namespace servesim {

namespace {

bool has_dataset(hid_t file, const char* path) {
  htri_t ok = -1;
  H5E_BEGIN_TRY { ok = H5Lexists(file, path, H5P_DEFAULT); }
  H5E_END_TRY;
  if (ok <= 0) return false;
  H5E_BEGIN_TRY { ok = H5Oexists_by_name(file, path, H5P_DEFAULT); }
  H5E_END_TRY;
  return ok > 0;
}

// One field of a compound table as doubles; enum fields are read through their own type (HDF5
// converts numbers between types, not enums to numbers).
std::vector<double> column(hid_t file, const char* dataset, const char* field) {
  h5::Handle d(H5Dopen2(file, dataset, H5P_DEFAULT), H5Dclose);
  if (d.get() < 0) throw std::runtime_error(std::string("no dataset ") + dataset);
  h5::Handle space(H5Dget_space(d.get()), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  h5::Handle ftype(H5Dget_type(d.get()), H5Tclose);
  const int index = H5Tget_member_index(ftype.get(), field);
  if (index < 0) throw std::runtime_error(std::string(dataset) + " has no column " + field);
  std::vector<double> out(static_cast<size_t>(std::max<hssize_t>(n, 0)));
  if (out.empty()) return out;
  if (H5Tget_member_class(ftype.get(), static_cast<unsigned>(index)) == H5T_ENUM) {
    h5::Handle member(H5Tget_member_type(ftype.get(), static_cast<unsigned>(index)), H5Tclose);
    h5::Handle mt(H5Tcreate(H5T_COMPOUND, 1), H5Tclose);
    H5Tinsert(mt.get(), field, 0, member.get());
    std::vector<std::int8_t> raw(out.size());
    if (H5Dread(d.get(), mt.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0)
      throw std::runtime_error(std::string("cannot read ") + dataset + "." + field);
    std::transform(raw.begin(), raw.end(), out.begin(), [](std::int8_t v) { return static_cast<double>(v); });
    return out;
  }
  h5::Handle mt(H5Tcreate(H5T_COMPOUND, sizeof(double)), H5Tclose);
  H5Tinsert(mt.get(), field, 0, H5T_NATIVE_DOUBLE);
  if (H5Dread(d.get(), mt.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw std::runtime_error(std::string("cannot read ") + dataset + "." + field);
  return out;
}

constexpr double kCompleted = 1, kUnfinished = 2, kFailed = 3;  // /requests status enum

// Little's law from the rows alone: L as the average, over evenly spaced instants, of the number
// of requests present (arrived, not ended), against lambda W from the arrival count and the mean
// sojourn. The instants sample the step function N(t), so this is not the identity the time
// series holds by construction; it converges as the instants get denser.
double littles_law_rel_error(const std::vector<double>& arrival, const std::vector<double>& end, double horizon_s) {
  std::vector<double> a = arrival, e = end;
  std::sort(a.begin(), a.end());
  std::sort(e.begin(), e.end());
  constexpr int kInstants = 100'000;
  double present = 0;
  for (int j = 0; j < kInstants; ++j) {
    const double t = (j + 0.5) * horizon_s / kInstants;
    present += static_cast<double>(std::upper_bound(a.begin(), a.end(), t) - a.begin()) -
               static_cast<double>(std::upper_bound(e.begin(), e.end(), t) - e.begin());
  }
  const double l = present / kInstants;
  double sojourn = 0;
  for (size_t i = 0; i < arrival.size(); ++i) sojourn += end[i] - arrival[i];
  const double lambda_w = static_cast<double>(arrival.size()) / horizon_s * (sojourn / static_cast<double>(arrival.size()));
  return std::fabs(l - lambda_w) / lambda_w;
}

double summary_value(hid_t file, const char* name) { return column(file, "/summary", name).at(0); }

}  // namespace

std::map<std::string, double> run_file_checks(const std::string& path) {
  std::map<std::string, double> out;
  h5::Handle file;
  H5E_BEGIN_TRY { file = h5::Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose); }
  H5E_END_TRY;
  if (file.get() < 0) throw std::runtime_error("cannot open " + path);
  const hid_t f = file.get();
  if (!has_dataset(f, "/summary")) throw std::runtime_error(path + " has no /summary (the run did not finish)");
  if (has_dataset(f, "/timeseries/cluster")) {
    auto blocks = column(f, "/timeseries/cluster", "kv_blocks_used");
    auto in_system = column(f, "/timeseries/cluster", "in_system");
    if (!blocks.empty()) out["check_kv_blocks_at_end"] = blocks.back();
    if (!in_system.empty()) out["check_in_system_at_end"] = in_system.back();
  }
  if (!has_dataset(f, "/requests")) return out;
  const auto status = column(f, "/requests", "status");
  const auto arrival = column(f, "/requests", "arrival_s");
  const auto e2e = column(f, "/requests", "e2e_s");
  const auto output = column(f, "/requests", "output_tokens");
  const auto input = column(f, "/requests", "input_tokens");
  double completed = 0, ended = 0, output_tokens = 0, input_tokens = 0;
  std::vector<double> arrived_at, ended_at;
  for (size_t i = 0; i < status.size(); ++i) {
    if (status[i] == kCompleted || status[i] == kUnfinished || status[i] == kFailed) ++ended;
    if (status[i] != kCompleted) continue;
    ++completed;
    output_tokens += output[i];
    input_tokens += input[i];
    arrived_at.push_back(arrival[i]);
    ended_at.push_back(arrival[i] + e2e[i]);
  }
  // every arrival ends exactly once, as one row, and the rows add up to the summary's totals
  out["check_requests_unaccounted"] = std::fabs(summary_value(f, "requests_arrived") - ended) +
                                      std::fabs(static_cast<double>(status.size()) - ended) +
                                      std::fabs(summary_value(f, "requests_completed") - completed);
  out["check_output_tokens_unaccounted"] = std::fabs(summary_value(f, "output_tokens_total") - output_tokens);
  const double horizon = summary_value(f, "sim_time_s");
  out["check_input_tokens_unaccounted"] =
      std::fabs(summary_value(f, "input_tokens_per_s") * horizon - input_tokens) / std::max(1.0, input_tokens);
  if (!arrived_at.empty() && horizon > 0 && completed == status.size())
    out["check_littles_law_rel_error"] = littles_law_rel_error(arrived_at, ended_at, horizon);
  return out;
}

}  // namespace servesim
