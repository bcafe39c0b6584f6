/* MPI operation handles that rsmpi's shim does not export (macros in mpi.h). */
#include <mpi.h>

const MPI_Op QUICKLB_MPI_REPLACE = MPI_REPLACE;
const MPI_Op QUICKLB_MPI_NO_OP = MPI_NO_OP;
