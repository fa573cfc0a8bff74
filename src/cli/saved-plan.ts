import { ExitError } from './errors.js';
import type { Session } from '../engine/index.js';
export async function savePlan(_path: string, _s: Session): Promise<void> {
  throw new ExitError('saving plans is not built yet');
}
