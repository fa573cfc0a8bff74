import { ExitError } from '../errors.js';
export async function planCommand(_file: string, _opts: Record<string, unknown>): Promise<void> {
  throw new ExitError('plan: not built yet');
}
