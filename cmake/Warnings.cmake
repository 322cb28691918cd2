# One warning set for every target of the project; -Werror only where asked (CI, scripts/test-all).
add_library(bulkq_warnings INTERFACE)
target_compile_options(bulkq_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                                                -Wnon-virtual-dtor -Wold-style-cast)
if(BULKQ_WERROR)
  target_compile_options(bulkq_warnings INTERFACE -Werror)
endif()
