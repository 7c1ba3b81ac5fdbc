# C types of sim/seq.py for the compiled simulator core (Cython pure-Python mode: the .py is the source).
cimport cython
@cython.final
cdef class Seq:
    cdef public object req, user
    cdef public long long request_id, prompt_tokens, output_tokens, class_idx, prompt, out_total
    cdef public long long done, cached, total_cached, hint, gen, iter_base, kv_base, key, order, private
    cdef public long long state, preemptions
    cdef public bint prefilled
    cdef public double arrival_s, first_token_s, admitted_s
    cdef public tuple hashes, refs

    cdef void _fill(self, object req, long long request_id, double arrival_s, long long prompt_tokens,
                    long long output_tokens, tuple hashes, long long class_idx, long long out_total)

@cython.locals(s=Seq)
cpdef Seq new_seq(long long request_id, double arrival_s, long long prompt_tokens, long long output_tokens,
                  tuple hashes, long long class_idx, long long out_total)
