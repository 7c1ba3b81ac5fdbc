# C types of sim/steptime.py for the compiled simulator core (Cython pure-Python mode: the .py is the source).
cimport cython

@cython.final
cdef class StepModel:
    cdef public object dep
    cdef public bint native
    cdef double _c0, _mt, _ctok, _dbi, _miss, _emfe, _ep, _ebi, _attn, _wf, _kvi, _wbi, _floor, _fixed, _ct, _so
    cdef bint _overlap

    @cython.locals(tokens=cython.longlong, comp=cython.double, mem=cython.double, touched=cython.double, acomp=cython.double, amem=cython.double)
    cpdef double step_time(self, long long prefill_tokens, long long decode_seqs, long long context_tokens,
                           double prefill_attn_pairs=*)
