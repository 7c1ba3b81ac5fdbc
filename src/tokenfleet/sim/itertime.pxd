# C types of sim/itertime.py for the compiled simulator core (Cython pure-Python mode: the .py is the source).
cimport cython

@cython.final
cdef class IterationTimes:
    cdef public long long m
    cdef list _starts, _f0, _slope, _sums, _a

    cdef void _split(self, object f, long long a, long long b, double fa, double fb)
    cdef void _add(self, long long a, double fa, double slope)
    cdef double _partial(self, long long i, long long c)
    cpdef double first(self)
    @cython.locals(i=cython.Py_ssize_t)
    cpdef double total(self, long long j)
    @cython.locals(i=cython.Py_ssize_t, n=cython.Py_ssize_t)
    cpdef long long boundary_at_or_after(self, double dt)

@cython.locals(mid=cython.longlong)
cpdef double line_slope(double fa, double fb, double fm, long long m)
cpdef double affine_sum(double f0, double slope, long long c)
@cython.locals(c=cython.longlong, bq=cython.double, disc=cython.double)
cpdef long long crossing(double f0, double s, double rem)
