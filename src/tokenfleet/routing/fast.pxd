# C types of routing/fast.py for the compiled simulator core (Cython pure-Python mode: the .py is the source).
cimport cython

@cython.final
cdef class _Group:
    cdef public object cand
    cdef public list rows
    cdef public dict buckets
    cdef public long long hi, lo

cdef class FastIndex:
    cdef public object profile, table
    cdef public list counts
    cdef public bint reads_state
    cpdef void set(self, long long row, long long in_flight)
    cpdef long long pick_row(self, str model)

cdef class RoundRobinIndex(FastIndex):
    cdef object _picker
    cpdef long long pick_row(self, str model)

cdef class LeastOutstandingIndex(FastIndex):
    cdef dict _groups
    cdef list _of_row
    cdef object _picker
    cdef public double weight
    @cython.locals(g=_Group, new=_Group)
    cdef _Group _group(self, str model)
    @cython.locals(old=cython.longlong, lo=cython.longlong, top=cython.longlong, buckets=dict, b=list, nb=list,
                   g=_Group)
    cpdef void set(self, long long row, long long in_flight)
    @cython.locals(g=_Group, rows=list, tied=list, spread=cython.longlong)
    cpdef long long pick_row(self, str model)
