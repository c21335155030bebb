#pragma once
// Helpers shared by tests: temporary files, running the CLI, reading HDF5 back.
#include <hdf5.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace servesim::testing {

// A fresh temporary directory, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

// A Mooncake-format trace of (timestamp ms, prompt tokens, the one hash id of its prefix) rows, 2
// output tokens each, written as t.jsonl in `dir`: its path.
struct HashRow {
  int ms, tokens, hash;
};
std::string write_hash_trace(const TempDir& dir, std::initializer_list<HashRow> rows);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};
// Runs the servesim binary with the given argument string (shell-quoted by the caller).
CommandResult run_servesim(const std::string& args);
// Runs a shell command line (stdout and stderr together).
CommandResult run_command(const std::string& command);

std::string data_file(const std::string& relative);  // path under data/
// Writes `text` gzip-compressed (creating parent folders), as the measured tables are stored.
void write_gz(const std::string& path, const std::string& text);
bool exists(const std::string& path);

// A file opened read-only for the test's lifetime (id < 0 if it did not open).
struct H5File {
  explicit H5File(const std::string& path) : id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)) {}
  ~H5File() {
    if (id >= 0) H5Fclose(id);
  }
  H5File(const H5File&) = delete;
  H5File& operator=(const H5File&) = delete;
  hid_t id;
};

// Rows of `dataset` in a file that may not exist yet or be mid-write (0 when it does not open):
// for polling a live run's snapshot.
hsize_t rows_if_readable(const std::string& path, const std::string& dataset);

// HDF5 read-back helpers (C API).
hsize_t dataset_rows(hid_t file, const std::string& name);
std::vector<std::string> compound_fields(hid_t file, const std::string& name);
std::vector<double> read_double_column(hid_t file, const std::string& dataset, const std::string& field);
// /requests' `field` of the request with this id (-1 if there is none).
double request_field(hid_t file, const std::string& field, double id);
// A /requests column in request id order (a run whose requests, ids 0 .. n-1, all ended).
std::vector<double> request_column_by_id(hid_t file, const std::string& field);
// The most of a run's requests in service at once, where all arrived at time 0 (so each is in
// service from its queue_s to its e2e_s): at each start, the requests started and not yet ended.
size_t most_in_service_from_time_zero(hid_t file);
std::vector<std::string> read_string_column(hid_t file, const std::string& dataset, const std::string& field);
std::vector<char> read_raw(hid_t file, const std::string& dataset);  // native bytes of the whole dataset
std::string read_string_attribute(hid_t file, const std::string& object, const std::string& attr);

}  // namespace servesim::testing
