// The engine's step functions, by number: a frame names the function it is in with one of these, so a
// CPU's position is integers only. The kernel function each one mirrors is named beside it.

export const enum Fn {
  // transition.c
  InitTransition, // klp_init_transition
  StartTransition, // klp_start_transition
  UpdatePatchState, // klp_update_patch_state
  TrySwitchTask, // klp_try_switch_task
  TryCompleteTransition, // klp_try_complete_transition
  CompleteTransition, // klp_complete_transition
  CancelTransition, // klp_cancel_transition
  ReverseTransition, // klp_reverse_transition
  ForceTransition, // klp_force_transition
  SchedTrySwitch, // __klp_sched_try_switch
  SendSignals, // klp_send_signals
  SynchronizeTransition, // klp_synchronize_transition
  TransitionWork, // klp_transition_work_fn
  // patch.c
  FtraceHandler, // klp_ftrace_handler
  PatchObject, // klp_patch_object
  UnpatchObject, // __klp_unpatch_object
  UnpatchObjects, // klp_unpatch_objects
  // core.c
  EnablePatch, // klp_enable_patch
  DisablePatch, // __klp_disable_patch
  EnabledStore, // enabled_store
  ForceStore, // force_store
  ModuleComing, // klp_module_coming
  ModuleGoing, // klp_module_going
  UnpatchReplacedPatches, // klp_unpatch_replaced_patches
  DiscardNops, // klp_discard_nops
  CleanupModulePatches, // klp_cleanup_module_patches_limited
  Count,
}

export const FN_NAMES: readonly string[] = [
  'initTransition',
  'startTransition',
  'updatePatchState',
  'trySwitchTask',
  'tryCompleteTransition',
  'completeTransition',
  'cancelTransition',
  'reverseTransition',
  'forceTransition',
  'schedTrySwitch',
  'sendSignals',
  'synchronizeTransition',
  'transitionWork',
  'ftraceHandler',
  'patchObject',
  'unpatchObject',
  'unpatchObjects',
  'enablePatch',
  'disablePatch',
  'enabledStore',
  'forceStore',
  'moduleComing',
  'moduleGoing',
  'unpatchReplacedPatches',
  'discardNops',
  'cleanupModulePatches',
];
