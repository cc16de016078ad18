/*
 * livepatch.pml: the protocol of the checker's `bench` world, in Promela, for SPIN.
 *
 * It mirrors src/sim/check/world.ts with MODELS.bench.shape (1 CPU, lean tasks, tasks may sleep in f,
 * one reverse, no fork / force / hotplug / module load), sequentially consistent memory, running the
 * engine verbs of src/engine/{core,patch,transition}.ts. One `d_step { ... }` below is one checker step:
 * everything a step function does up to its `return St.Next`, with the `St.Local` steps before it merged
 * in, exactly where the engine merges them; and, as in the World, entering a verb merges into the
 * verb's first step (a verb that starts with klp_mutex is entered only while the mutex is free). A few
 * steps are `atomic { ... }` instead: SPIN refuses a jump (a loop's `break`) into or out of a d_step;
 * an atomic sequence is one step as well (pan stores no state inside it). Every step ends with CHECK
 * (the world's checkInvariants); the engine's WARN_ON_ONCE()s are assertions where they stand.
 *
 * Validation: without reductions (pan -DNOREDUCE; the checker with symmetry and POR off) both
 * explore exactly the same number of states (see bench/checker-vs-spin.mjs --validate).
 *
 *   spin -a [-DN=3] [-DVARIANT=3] livepatch.pml && gcc -O2 -DSAFETY -o pan pan.c && ./pan -n -m100000
 *   (for VARIANT=3 compile with -DREVERSE too: pan then tries the admin first, as the checker's dfs
 *   does, and stops at the first violation within ~40 steps instead of deep in the task loops)
 *
 * N        user tasks (default 3, at most 10); CPU 0's idle task is task N.
 * VARIANT  0 (default): the final code. 3: the seed's v3 reverse: klp_start_transition() flags every
 *          task, and the reverse flips the target and restarts without clearing the flags or
 *          synchronizing: a task already at the new target keeps TIF_PATCH_PENDING (I4 fails).
 *
 * Processes (pids): admin 0, kworker 1, CPU 0's idle task 2, user tasks 3 .. N+2. All run on CPU 0.
 */

#ifndef N
#define N 3
#endif
#ifndef VARIANT
#define VARIANT 0
#endif
#if N < 1 || N > 10
#error "N must be 1..10"
#endif

/* klp_target_state / task->patch_state. The kernel's IDLE is -1; Promela bytes are unsigned, so -1 is
 * kept as 2 (UNPATCHED 0 and PATCHED 1 as in the kernel, so a fresh local 0 equals UNPATCHED, as a
 * fresh engine frame field 0 does). */
#define KLP_UNPATCHED 0
#define KLP_PATCHED   1
#define KLP_IDLE      2
#define FLIP(s) ((s) == KLP_PATCHED -> KLP_UNPATCHED : KLP_PATCHED)

#define IDLE_TASK N           /* ps[] / pending[] index of CPU 0's idle task (swapper/0) */

/* Code ids as in the world: the original f and the patch's new f (g is patched too, but a lean task
 * never calls it, so no stack ever holds g). */
#define F_OLD 1
#define F_NEW 11

/* klp_mutex owner */
#define NOBODY 0
#define ADMIN  1
#define WORKER 2

/* Who runs klp_try_complete_transition() (what its caller does when it returns). */
#define ENABLING  0
#define WORK      1

/* A user task's location (world.ts: U, RETURNING, SLEEP_IN_F, BARRIER with updatePatchState at pc 1..3). */
#define T_USER   0   /* user mode */
#define T_RET    1   /* in the kernel, returning to user mode (running) */
#define T_SLEEPF 2   /* asleep inside f (not running; f is on its stack) */
#define T_B1     3   /* in klp_update_patch_state(): preemption off, TIF_PATCH_PENDING tested and cleared */
#define T_B2     4   /* klp_target_state loaded */
#define T_B3     5   /* patch_state stored; preempt_enable() next */

/* ---- shared state (the engine's Memory cells and the klp_mutex-protected fields that change) ---- */
byte target = KLP_IDLE;        /* klp_target_state */
byte ps[N + 1] = KLP_IDLE;     /* task->patch_state (tasks 0..N-1, idle task N) */
bit pending[N + 1];            /* TIF_PATCH_PENDING */
bit trans_f, trans_g;          /* func->transition */
byte head_f, head_g;           /* klp_ops->func_stack head: func id + 1 (f = 1, g = 2), 0 = empty */
byte next_f, next_g;           /* func->stack_node.next (0 = end of list) */
bit tp;                        /* klp_transition_patch != NULL */
bit penabled;                  /* patch->enabled */
bit schedhook;                 /* klp_sched_try_switch_key */
byte mutex = NOBODY;           /* klp_mutex owner */
bit wq;                        /* klp_transition_work queued */

/* per user task: location, the version of f it runs while in f (0 outside f), and the target that its
 * klp_update_patch_state() loaded (0 once stored: dead values are cleared, as in the engine and the
 * World, so that equal positions are equal states); the idle task: ipc 0 (idle loop) / 1..3 as T_B1..T_B3 */
byte tpc[N];
byte vf[N];
byte tg[N];
byte ipc;
byte itg;

/* Bookkeeping, all functions of the control state (they add no states): procs with preemption disabled
 * on CPU 0; the admin / the kworker is inside an engine verb; the admin is inside
 * klp_init_transition(), klp_reverse_transition() or klp_start_transition() (World.starting()). */
byte preempt;
bit abusy, wbusy, starting;

/* ---- invariants, after every step (World.checkInvariants, sequentially consistent memory) ---- */
#define IX(k) ((k) < N -> (k) : N)
#define ALL(P) (P(N) && P(IX(0)) && P(IX(1)) && P(IX(2)) && P(IX(3)) && P(IX(4)) && P(IX(5)) && P(IX(6)) && P(IX(7)) && P(IX(8)) && P(IX(9)))
#define I3T(t) (ps[t] == KLP_IDLE && !pending[t])
#define I4T(t) (!(pending[t] && ps[t] == target))
#define ATT(t) (ps[t] == target)
/* I2: klp_transition_patch is set exactly while klp_target_state != IDLE. */
#define I2 (tp == (target != KLP_IDLE))
/* I3: outside a transition (and with no verb running) every task is IDLE with its flag clear. */
#define I3 (target != KLP_IDLE || abusy || wbusy || ALL(I3T))
/* I4: in a transition (once started) no task is flagged while already at the target. */
#define I4 (target == KLP_IDLE || starting || ALL(I4T))
#define CHECK assert(I2); assert(I3); assert(I4)

/* ---- the ftrace handler of f (run as one step by a lean task) ---- */
inline klp_ftrace_handler_f(t) {
  if
  :: head_f == 0 -> vf[t] = F_OLD                     /* not hooked: the original */
  :: else ->
     if
     :: !trans_f -> vf[t] = F_NEW                     /* top of the func stack */
     :: else ->
        assert(ps[t] != KLP_IDLE);                    /* I7: WARN, func in transition with an IDLE task */
        if
        :: ps[t] == KLP_UNPATCHED -> vf[t] = F_OLD    /* func->stack_node.next is empty: the original */
        :: else -> vf[t] = F_NEW
        fi
     fi
  fi
}

/* ---- klp_synchronize_transition(): schedule_on_each_cpu() on CPU 0 ---- */
inline klp_synchronize_transition() {
  d_step { CHECK }                                    /* cpus_read_lock() */
  d_step { preempt == 0 -> CHECK }                    /* CPU 0 passes through schedule() */
  d_step { CHECK }                                    /* cpus_read_unlock() */
}

/* ---- klp_init_transition(patch, state): the first step is the caller's next step ---- */
inline klp_init_transition(state, initial) {
  d_step { assert(target == KLP_IDLE); tp = 1; target = state; starting = 1; CHECK }
  d_step { i = 0; CHECK }                             /* read_lock(&tasklist_lock) */
  do
  :: d_step { i < N -> assert(ps[i] == KLP_IDLE); ps[i] = initial; i++; CHECK }
  :: atomic { i >= N -> i = 0; CHECK; break }         /* read_unlock() */
  od;
  atomic { assert(ps[IDLE_TASK] == KLP_IDLE); ps[IDLE_TASK] = initial; i = 1; CHECK }
  d_step { CHECK }                                    /* smp_wmb() */
  d_step { trans_f = 1; CHECK }
  d_step { trans_g = 1; CHECK }
}

/* ---- klp_start_transition(): its last part (after the idle task) is merged into the caller's next step ---- */
inline klp_start_transition() {
  d_step { assert(target != KLP_IDLE); starting = 1; i = 0; CHECK }   /* read_lock(&tasklist_lock) */
#if VARIANT == 3
  do
  :: d_step { i < N -> pending[i] = 1; i++; CHECK }
  :: atomic { i >= N -> i = 0; CHECK; break }
  od;
  atomic { pending[IDLE_TASK] = 1; i = 1; CHECK }
#else
  do
  :: d_step { i < N && ps[i] == target -> i++; CHECK }
  :: d_step { i < N && ps[i] != target -> CHECK }; d_step { pending[i] = 1; i++; CHECK }
  :: atomic { i >= N -> i = 0; CHECK; break }         /* read_unlock() */
  od;
  if
  :: d_step { ps[IDLE_TASK] == target -> i = 1; CHECK }
  :: d_step { ps[IDLE_TASK] != target -> CHECK }; d_step { pending[IDLE_TASK] = 1; i = 1; CHECK }
  fi
#endif
}
#define START_DONE schedhook = 1; starting = 0
/* klp_try_complete_transition()'s first step: WARN if IDLE; read_lock(&tasklist_lock) */
#define TC_BEGIN assert(target != KLP_IDLE); b = 1; i = 0; rv = 0

/* The caller's tail after klp_try_complete_transition() returns: mutex_unlock(&klp_mutex), verb done. */
inline tc_return(who) {
  mutex = NOBODY;
  if
  :: who == WORK -> wbusy = 0
  :: else -> abusy = 0
  fi;
  i = 0; b = 0; rv = 0
}

/*
 * klp_try_complete_transition() after its first step, with klp_try_switch_task() for each task and
 * klp_complete_transition(). Locals: i (loop index), b (all switched so far), rv (the last
 * klp_try_switch_task() result, not yet folded into b: the engine folds it in at the next step). In the
 * task loop, i > 0 means "task i-1 was just tried" (its result is in rv).
 */
inline klp_try_complete(who) {
  do
  :: d_step { i < N && ps[i] == target ->             /* already switched */
       if :: i > 0 && !rv -> b = 0 :: else fi; rv = 1; i++; CHECK }
  :: d_step { i < N && ps[i] != target ->
       if :: i > 0 && !rv -> b = 0 :: else fi; rv = 0; CHECK };
     d_step {                                         /* the task is pinned (task_call_func) */
       if
       :: tpc[i] != T_USER && tpc[i] != T_SLEEPF -> rv = 0            /* running */
       :: tpc[i] == T_SLEEPF && vf[i] == (target == KLP_UNPATCHED -> F_NEW : F_OLD) -> rv = 0   /* sleeping on f */
       :: else ->
          assert(tpc[i] != T_SLEEPF || ps[i] == target);   /* I5: never switched while f is active in it */
          pending[i] = 0; ps[i] = target; rv = 1
       fi;
       i++; CHECK }
  :: atomic { i >= N -> if :: i > 0 && !rv -> b = 0 :: else fi; rv = 0; i = 0; CHECK; break }   /* read_unlock() */
  od;
  atomic { CHECK };                                   /* cpus_read_lock() */
  /* CPU 0 is online: its idle task runs, so it switches itself (klp_update_patch_state in its loop) */
  if
  :: d_step { ps[IDLE_TASK] == target -> rv = 1; CHECK }
  :: d_step { ps[IDLE_TASK] != target -> CHECK }; d_step { rv = 0; CHECK }   /* running */
  fi;
  d_step { if :: !rv -> b = 0 :: else fi; rv = 0; i = 1; CHECK }   /* cpus_read_unlock() */
  if
  :: d_step { !b ->
       /* klp_signals_cnt is not modelled: fake signals add nothing (any sleeper may wake at any step),
        * and the World leaves the attempt count out of its state too */
       wq = 1;                                        /* schedule the retry */
       tc_return(who); CHECK }
  :: d_step { b ->
       assert(ALL(ATT));                              /* I6: completing with every task at the target
                                                       * (the World tests I6 when a CompleteTransition frame
                                                       * is on top at pc 0, which no step ends at; there the
                                                       * WARNs below are what catch it) */
       schedhook = 0;
       if
       :: target == KLP_UNPATCHED -> head_f = next_f  /* klp_unpatch_objects: unlink f */
       :: else -> trans_f = 0
       fi;
       CHECK }
     if
     :: d_step { target == KLP_UNPATCHED -> head_g = next_g; CHECK }   /* unlink g */
        klp_synchronize_transition();
        d_step { trans_f = 0; CHECK }
        d_step { trans_g = 0; CHECK }
     :: d_step { target == KLP_PATCHED -> trans_g = 0; CHECK }
        klp_synchronize_transition()
     fi;
     d_step { i = 0; CHECK }                          /* read_lock(&tasklist_lock) */
     do
     :: d_step { i < N -> assert(!pending[i] && ps[i] == target);   /* WARN_ON_ONCE()s */
          ps[i] = KLP_IDLE; i++; CHECK }
     :: atomic { i >= N -> i = 0; CHECK; break }      /* read_unlock() */
     od;
     atomic { assert(!pending[IDLE_TASK] && ps[IDLE_TASK] == target); ps[IDLE_TASK] = KLP_IDLE; i = 1; CHECK }
     d_step { target = KLP_IDLE; tp = 0; CHECK }      /* klp_transition_patch = NULL */
     d_step { tc_return(who); CHECK }                 /* (klp_free_patch if it was unpatched) */
  fi
}

active proctype admin() {
  byte i; bit b, rv;

  /* insmod: klp_enable_patch(): klp_mutex; the patch checked, its funcs resolved, added to klp_patches */
  d_step { mutex == NOBODY -> abusy = 1; mutex = ADMIN; CHECK }
  klp_init_transition(KLP_PATCHED, KLP_UNPATCHED);
  d_step { starting = 0; CHECK }                      /* smp_wmb() */
  d_step { next_f = head_f; head_f = 1; CHECK }       /* pre-patch callback; klp_patch_object: push f */
  d_step { next_g = head_g; head_g = 2; CHECK }       /* push g */
  klp_start_transition();
  d_step { START_DONE; penabled = 1; TC_BEGIN; CHECK }
  klp_try_complete(ENABLING);

  /* echo 0 > enabled, once, at any moment of the transition: enabled_store() takes klp_mutex and,
   * the patch being in transition, calls klp_reverse_transition() */
end_admin:
  d_step { tp && mutex == NOBODY -> abusy = 1; mutex = ADMIN; starting = 1; CHECK }
#if VARIANT == 3
  d_step { penabled = !penabled; target = FLIP(target); CHECK }
#else
  d_step { i = 0; CHECK }                             /* read_lock(&tasklist_lock) */
  do
  :: d_step { i < N -> pending[i] = 0; i++; CHECK }   /* clear TIF_PATCH_PENDING */
  :: atomic { i >= N -> i = 0; CHECK; break }         /* read_unlock() */
  od;
  atomic { pending[IDLE_TASK] = 0; i = 1; CHECK }
  klp_synchronize_transition();
  d_step { penabled = !penabled; target = FLIP(target); CHECK }   /* smp_wmb() */
#endif
  klp_start_transition();
  d_step { START_DONE; mutex = NOBODY; abusy = 0; i = 0; CHECK }  /* mutex_unlock(&klp_mutex) */
end_admin_done:
  (0)
}

/* klp_transition_work_fn(), each time the work is queued (entered only while klp_mutex is free) */
active proctype kworker() {
  byte i; bit b, rv;
end_kworker:
  do
  :: d_step { wq && mutex == NOBODY && tp -> wq = 0; wbusy = 1; mutex = WORKER; CHECK }
     d_step { TC_BEGIN; CHECK }
     klp_try_complete(WORK)
  :: d_step { wq && mutex == NOBODY && !tp -> wq = 0; wbusy = 1; mutex = WORKER; CHECK }
     d_step { mutex = NOBODY; wbusy = 0; CHECK }
  od
}

/* CPU 0's idle task: in its idle loop, a flagged idle task switches itself */
active proctype idle() {
end_idle:
  do
  :: d_step { ipc == 0 && pending[IDLE_TASK] ->           /* klp_update_patch_state(current): */
       preempt++; pending[IDLE_TASK] = 0; ipc = 1; CHECK }  /* preempt_disable(); test_and_clear */
  :: d_step { ipc == 1 -> itg = target; ipc = 2; CHECK }    /* READ_ONCE(klp_target_state) */
  :: d_step { ipc == 2 -> ps[IDLE_TASK] = itg; itg = 0; ipc = 3; CHECK }   /* current->patch_state = ... */
  :: d_step { ipc == 3 -> preempt--; ipc = 0; CHECK }             /* preempt_enable() */
  od
}

#define T (_pid - 3)

/* A lean user task */
active [N] proctype task() {
end_task:
  do
  :: d_step { tpc[T] == T_USER -> tpc[T] = T_RET; CHECK }                  /* syscall (no patched code) */
  :: d_step { tpc[T] == T_USER -> klp_ftrace_handler_f(T); tpc[T] = T_SLEEPF; CHECK }   /* syscall into f, sleeps there */
  :: d_step { tpc[T] == T_SLEEPF -> tpc[T] = T_RET; vf[T] = 0; CHECK }    /* wakes up, returns */
  :: d_step { tpc[T] == T_RET ->                                           /* exit_to_user_mode() */
       if
       :: pending[T] -> preempt++; pending[T] = 0; tpc[T] = T_B1          /* klp_update_patch_state(current): */
       :: else -> tpc[T] = T_USER                                          /* preempt_disable(); test_and_clear */
       fi; CHECK }
  :: d_step { tpc[T] == T_B1 -> tg[T] = target; tpc[T] = T_B2; CHECK }    /* READ_ONCE(klp_target_state) */
  :: d_step { tpc[T] == T_B2 -> ps[T] = tg[T]; tg[T] = 0; tpc[T] = T_B3; CHECK }   /* current->patch_state = ... */
  :: d_step { tpc[T] == T_B3 -> preempt--; tpc[T] = T_USER; CHECK }      /* preempt_enable() */
  od
}
