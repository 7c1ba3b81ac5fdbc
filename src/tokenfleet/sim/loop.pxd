# C types of sim/loop.py for the compiled simulator core (Cython pure-Python mode: the .py is the source).
cimport cython
from .replica cimport Replica
from .seq cimport Seq, new_seq
from ..routing.fast cimport FastIndex

cdef double INF
cdef bint COMPILED
cdef long long FLUSH

@cython.final
cdef class EventLoop:
    cdef object _host, _view
    cdef list _reps, _rep_pool, _prefill_only, _entry_rows, _decode_rows, _models, _kv_bpt
    cdef list _table, _row, _fast, _publish, _entry_row, _inv_rate, _overhead, _heap, _buf
    cdef dict _handoffs
    cdef FastIndex _entry_fast, _decode_fast
    cdef double _link_s, _link_bps, _pt
    cdef long long _counter, _n, _hn, _pc, _pr, _pv
    cdef long long[:, ::1] _ints
    cdef double[:, ::1] _flts
    cdef double[::1] _ht
    cdef long long[::1] _hc, _hr, _hv
    cdef public long long done
    cdef public list handed, handed_tokens
    cdef public double t_now

    @cython.locals(i=cython.Py_ssize_t, rid=cython.longlong, t=cython.double, arr=list, pt=list, ot=list, cls=list,
                   ids=list, hs=list, rep_i=cython.Py_ssize_t)
    cpdef double run(self, object chunks)
    cdef long long _push(self, double t, long long rep_i, long long version)
    @cython.locals(heap=list, reps=list, rep=Replica, t_now=cython.double, seqno=cython.longlong,
                   rep_i=cython.longlong, ver=cython.longlong, cv=cython.longlong, first=list, done=list, fs=Seq,
                   r_i=cython.longlong)
    cdef void _events_until(self, double t)
    @cython.locals(fast=FastIndex, row=cython.longlong, rep_i=cython.longlong, rep=Replica, seq=Seq)
    cdef void _arrive(self, long long rid, double t, long long prompt, long long output, long long ci, tuple hashes)
    @cython.locals(fast=FastIndex, row=cython.longlong, rep_i=cython.longlong, rep=Replica)
    cdef void _handoff(self, Seq seq, double t)
    @cython.locals(pool_i=cython.longlong, s=Seq, d=Seq, arrive=cython.double, n=cython.longlong)
    cdef void _finish(self, long long rep_i, list seqs, double now)
    @cython.locals(n=cython.longlong, j=cython.Py_ssize_t)
    cdef void _flush(self)
    @cython.locals(publish=cython.longlong, rep=Replica, r=cython.longlong, queued=cython.longlong,
                   running=cython.longlong, fast=FastIndex)
    cdef void _sync(self, long long rep_i)
    @cython.locals(rep=Replica, r=cython.longlong, queued=cython.longlong, running=cython.longlong,
                   step=cython.double, overhead=cython.double, rate=cython.double)
    cdef void _write_row(self, long long rep_i, bint prefill)
    @cython.locals(n=cython.longlong, i=cython.longlong, p=cython.longlong)
    cdef void _hpush(self, double t, long long c, long long r, long long v)
    @cython.locals(n=cython.longlong, i=cython.longlong, k=cython.longlong, t=cython.double, c=cython.longlong,
                   r=cython.longlong, v=cython.longlong)
    cdef void _hpop(self)
    @cython.locals(n=cython.longlong)
    cdef void _hgrow(self)
