#include "tests/test_util.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

namespace servesim::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "servesim_test_XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}
std::string TempDir::write(const std::string& name, const std::string& text) const {
  std::string p = file(name);
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

std::vector<double> request_column_by_id(hid_t file, const std::string& field) {
  const std::vector<double> ids = read_double_column(file, "/requests", "id");
  const std::vector<double> values = read_double_column(file, "/requests", field);
  std::vector<double> by_id(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) by_id.at(static_cast<size_t>(ids[i])) = values[i];
  return by_id;
}

size_t most_in_service_from_time_zero(hid_t file) {
  const std::vector<double> start = read_double_column(file, "/requests", "queue_s");
  const std::vector<double> end = read_double_column(file, "/requests", "e2e_s");
  size_t most = 0;
  for (size_t i = 0; i < start.size(); ++i) {
    size_t running = 0;
    for (size_t j = 0; j < start.size(); ++j) running += start[j] <= start[i] && end[j] > start[i];
    most = std::max(most, running);
  }
  return most;
}

double request_field(hid_t file, const std::string& field, double id) {
  const std::vector<double> ids = read_double_column(file, "/requests", "id");
  const std::vector<double> values = read_double_column(file, "/requests", field);
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] == id) return values[i];
  return -1;
}

std::string write_hash_trace(const TempDir& dir, std::initializer_list<HashRow> rows) {
  std::string text;
  for (const HashRow& r : rows)
    text += "{\"timestamp\": " + std::to_string(r.ms) + ", \"input_length\": " + std::to_string(r.tokens) +
            ", \"output_length\": 2, \"hash_ids\": [" + std::to_string(r.hash) + "]}\n";
  return dir.write("t.jsonl", text);
}

CommandResult run_servesim(const std::string& args) { return run_command(std::string(SERVESIM_BIN) + " " + args); }

CommandResult run_command(const std::string& command) {
  std::string cmd = command + " 2>&1";
  CommandResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed");
  std::array<char, 4096> buf;
  size_t n;
  constexpr size_t kMaxOutput = 1 << 20;  // a runaway program must not eat the test's memory
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0)
    if (r.out.size() < kMaxOutput) r.out.append(buf.data(), n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string data_file(const std::string& relative) { return std::string(SERVESIM_DATA_DIR) + "/" + relative; }
bool exists(const std::string& path) { return std::filesystem::exists(path); }

hsize_t rows_if_readable(const std::string& path, const std::string& dataset) {
  hsize_t rows = 0;
  H5E_BEGIN_TRY {
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
      hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
      if (d >= 0) {
        hid_t s = H5Dget_space(d);
        H5Sget_simple_extent_dims(s, &rows, nullptr);
        H5Sclose(s);
        H5Dclose(d);
      }
      H5Fclose(f);
    }
  }
  H5E_END_TRY;
  return rows;
}

hsize_t dataset_rows(hid_t file, const std::string& name) {
  hid_t d = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  if (d < 0) throw std::runtime_error("no dataset " + name);
  hid_t s = H5Dget_space(d);
  hsize_t dims[1] = {0};
  H5Sget_simple_extent_dims(s, dims, nullptr);
  H5Sclose(s);
  H5Dclose(d);
  return dims[0];
}

std::vector<std::string> compound_fields(hid_t file, const std::string& name) {
  hid_t d = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  if (d < 0) throw std::runtime_error("no dataset " + name);
  hid_t t = H5Dget_type(d);
  std::vector<std::string> out;
  int n = H5Tget_nmembers(t);
  for (int i = 0; i < n; ++i) {
    char* m = H5Tget_member_name(t, static_cast<unsigned>(i));
    out.emplace_back(m);
    H5free_memory(m);
  }
  H5Tclose(t);
  H5Dclose(d);
  return out;
}

std::vector<double> read_double_column(hid_t file, const std::string& dataset, const std::string& field) {
  hid_t d = H5Dopen2(file, dataset.c_str(), H5P_DEFAULT);
  if (d < 0) throw std::runtime_error("no dataset " + dataset);
  hsize_t n = dataset_rows(file, dataset);
  hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(double));
  H5Tinsert(mt, field.c_str(), 0, H5T_NATIVE_DOUBLE);
  std::vector<double> out(n);
  if (n > 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw std::runtime_error("cannot read " + dataset + "." + field);
  H5Tclose(mt);
  H5Dclose(d);
  return out;
}

std::vector<std::string> read_string_column(hid_t file, const std::string& dataset, const std::string& field) {
  hid_t d = H5Dopen2(file, dataset.c_str(), H5P_DEFAULT);
  if (d < 0) throw std::runtime_error("no dataset " + dataset);
  hsize_t n = dataset_rows(file, dataset);
  hid_t str = H5Tcopy(H5T_C_S1);
  H5Tset_size(str, H5T_VARIABLE);
  H5Tset_cset(str, H5T_CSET_UTF8);
  hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(char*));
  H5Tinsert(mt, field.c_str(), 0, str);
  std::vector<char*> raw(n, nullptr);
  if (n > 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0)
    throw std::runtime_error("cannot read " + dataset + "." + field);
  std::vector<std::string> out;
  for (char* c : raw) {
    out.emplace_back(c ? c : "");
    H5free_memory(c);
  }
  H5Tclose(mt);
  H5Tclose(str);
  H5Dclose(d);
  return out;
}

std::vector<char> read_raw(hid_t file, const std::string& dataset) {
  hid_t d = H5Dopen2(file, dataset.c_str(), H5P_DEFAULT);
  if (d < 0) throw std::runtime_error("no dataset " + dataset);
  hid_t t = H5Dget_type(d);
  hid_t nt = H5Tget_native_type(t, H5T_DIR_ASCEND);
  hsize_t n = dataset_rows(file, dataset);
  std::vector<char> out(n * H5Tget_size(nt));
  if (n > 0) H5Dread(d, nt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data());
  H5Tclose(nt);
  H5Tclose(t);
  H5Dclose(d);
  return out;
}

std::string read_string_attribute(hid_t file, const std::string& object, const std::string& attr) {
  hid_t a = H5Aopen_by_name(file, object.c_str(), attr.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) throw std::runtime_error("no attribute " + object + "@" + attr);
  hid_t t = H5Aget_type(a);
  char* value = nullptr;
  H5Aread(a, t, &value);
  std::string out = value ? value : "";
  H5free_memory(value);
  H5Tclose(t);
  H5Aclose(a);
  return out;
}

void write_gz(const std::string& path, const std::string& text) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  gzFile f = gzopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + path);
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
}

}  // namespace servesim::testing
