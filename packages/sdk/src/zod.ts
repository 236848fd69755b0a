/**
 * zod as the contract's schemas import it: the tree-shakable `zod/mini` build with English
 * messages. Mini loads no locale of its own, and without `en` every message would read "Invalid
 * input"; manifest problems reach plugin authors. The service configures zod the same way
 * (lambdas/shared/zod.ts), on the same zod.
 */
import { en } from 'zod/locales';
import * as z from 'zod/mini';

z.config(en());

export * from 'zod/mini';
