import * as z from '../zod.js';

/**
 * The enums the API's answers (responses.ts) and the service share, in a module of their own so
 * the answers need not import the service's shared/types, which takes its types from them.
 */

/** What a workspace asks to be reached by (`PUT /admin/workspaces/{id}` `transport`). */
export const Transport = z.enum(['ssm', 'eic', 'auto']);
export type Transport = z.infer<typeof Transport>;

export const OperationKind = z.enum(['install', 'uninstall', 'rollback', 'plan', 'verify', 'repair']);
export type OperationKind = z.infer<typeof OperationKind>;

export const OperationStatus = z.enum(['RUNNING', 'SUCCEEDED', 'FAILED']);
export type OperationStatus = z.infer<typeof OperationStatus>;

/** What a repair mends (SPEC §12): delivers the active revisions again, records what the host has, or removes debris. */
export const RepairMode = z.enum(['reinstall', 'adopt', 'clean']);
export type RepairMode = z.infer<typeof RepairMode>;
