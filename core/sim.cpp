#include "core/sim.h"

#include <cstdlib>

// libsystemc.so carries its own main() that calls sc_main(); servesim programs have their
// own main() and elaborate through configure_kernel(), so this is never called.
int sc_main(int, char*[]) { return 1; }

namespace servesim {

void configure_kernel() {
  static bool done = false;
  if (done) return;
  done = true;
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  sc_core::sc_report_handler::set_actions("/IEEE_Std_1666/deprecated", sc_core::SC_DO_NOTHING);
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);  // "stopped by user"
  sc_core::sc_set_time_resolution(1, sc_core::SC_NS);
}

}  // namespace servesim
