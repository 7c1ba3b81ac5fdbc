# C types of sim/kv.py for the compiled simulator core (Cython pure-Python mode: the .py is the source).
cimport cython
@cython.final
cdef class KvCache:
    cdef public long long blocks_per_prefix, capacity_blocks, free, hits, lookups
    cdef public dict refs
    cdef public object evictable

    cpdef long long match(self, tuple hash_ids, long long max_blocks)
    cpdef long long pinned_if_matched(self, tuple hash_ids, long long k)
    cpdef void pin(self, tuple hash_ids)
    cpdef void unpin(self, tuple hash_ids)
    cpdef long long insert(self, tuple hash_ids)
    cpdef bint allocate(self, long long blocks)
    cpdef void release(self, long long blocks)
