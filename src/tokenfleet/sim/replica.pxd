# C types of sim/replica.py for the compiled simulator core (Cython pure-Python mode: the .py is the source).
cimport cython
from .itertime cimport IterationTimes, affine_sum, crossing, line_slope
from .kv cimport KvCache
from .seq cimport Seq
from .steptime cimport StepModel

cdef long long WAITING, PREFILL, DECODE, DONE, UTIL_CTX_BUCKET
cdef double INF

@cython.final
cdef class ReplicaStats:
    cdef public double busy_s, dyn_energy_j
    cdef public long long iterations, runs, preemptions, max_kv_blocks
    cdef public long long prefill_tokens, decode_tokens, cached_tokens, prompt_tokens

@cython.final
cdef class Replica:
    cdef public object dep, cfg, waiting, trace
    cdef StepModel _st
    cdef public list prefilling, rejected, cnt, _fin, _chunks
    cdef public long long n, cb, iters, next_order, pending_tokens, version, comp_version
    cdef public long long _m, _bs, _run_m, _sig, _max_seqs, _max_tokens, _pblock
    cdef public double busy_until, _t0, _slope, _tot, _u, _step_s, comp_step_s, comp_kv_use, dyn_w, bin_s
    cdef public bint _exact, _lin, _chunked, _prefix
    cdef public IterationTimes _it
    cdef public dict _ucache, bins
    cdef public KvCache kv
    cdef public ReplicaStats stats

    cpdef double next_event_time(self)
    cpdef void share_cache(self, dict utilisation)
    cpdef double last_step_s(self)
    @cython.locals(sig=cython.longlong)
    cpdef void _published(self, double step_s, bint chunked)
    @cython.locals(was_empty=cython.bint, hint=cython.longlong, b=cython.longlong, m=cython.longlong, dt=cython.double,
                   j=cython.longlong, run_s=cython.double, it=IterationTimes)
    cpdef bint admit(self, Seq seq, double now)
    cdef void _set_busy(self, double t)
    @cython.locals(first=list, done=list, m=cython.longlong, st=ReplicaStats, t0=cython.double, n=cython.longlong,
                   dt=cython.double, e=cython.double, w=cython.double, b0=cython.longlong, ptoks=cython.longlong, kv=KvCache,
                   need=cython.longlong, iters=cython.longlong, chunks=list, prefilling=list, seq=Seq, c=cython.longlong,
                   chunk=cython.longlong, fin=list, used=cython.longlong)
    cpdef tuple advance(self, double now)
    @cython.locals(b0=cython.longlong, b1=cython.longlong, b=cython.longlong, p=cython.double, lo=cython.double, hi=cython.double)
    cdef void _bin_energy(self, double t0, double t1, double e)
    @cython.locals(full=cython.longlong)
    cdef void _prefill_complete(self, Seq seq, double now, list first, list done)
    @cython.locals(iters=cython.longlong, key=cython.longlong)
    cdef void _enter_decode(self, Seq seq, long long kv_tokens)
    @cython.locals(bs=cython.longlong, kv_now=cython.longlong)
    cdef void _leave_decode(self, Seq seq)
    cdef void _release(self, Seq seq)
    @cython.locals(bs=cython.longlong, cycles=cython.longlong, rest=cython.longlong, r0=cython.longlong,
                   lo=cython.longlong, part=cython.longlong, cnt=list)
    cdef long long _blocks_needed(self, long long j)
    @cython.locals(lo=cython.longlong, hi=cython.longlong, mid=cython.longlong)
    cdef long long _iters_that_fit(self, long long limit, long long avail)
    @cython.locals(victim=Seq, dec=Seq, s=Seq)
    cdef void _preempt_one(self)
    @cython.locals(kv=KvCache, bs=cython.longlong, k=cython.longlong, prefilled=cython.bint, blocks=cython.longlong,
                   pinned=cython.longlong, own=cython.longlong)
    cdef bint _try_admit(self, Seq seq, long long reserve)
    @cython.locals(kv=KvCache, bs=cython.longlong, n=cython.longlong, reserve=cython.longlong,
                   budget=cython.longlong, seq=Seq, s=Seq, st=StepModel, ctx0=cython.longlong, chunks=list,
                   ptoks=cython.longlong, pairs=cython.double, rem=cython.longlong, c=cython.longlong, t=cython.double,
                   m=cython.longlong, avail=cython.longlong, f0=cython.double, fb=cython.double, slope=cython.double, tot=cython.double,
                   fin=list, prefilling=list, it=IterationTimes)
    cdef void _schedule(self, double now)
