#include <mpi.h>

// MPI's handles are C macros that do not import into Swift; these accessors give them names.
static inline MPI_Comm mbc_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype mbc_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype mbc_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype mbc_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype mbc_int(void) { return MPI_INT; }
static inline MPI_Datatype mbc_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype mbc_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Op mbc_op_sum(void) { return MPI_SUM; }
static inline MPI_Op mbc_op_max(void) { return MPI_MAX; }
static inline void *mbc_in_place(void) { return MPI_IN_PLACE; }
static inline int mbc_success(void) { return MPI_SUCCESS; }
static inline int mbc_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int mbc_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline MPI_Errhandler mbc_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Request mbc_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *mbc_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
