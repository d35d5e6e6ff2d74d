/**
 * The vulnerability scanners, keyed by the name `security.scanner` gives. Adding one is a file beside npm-audit.ts and
 * one entry here.
 */
import type { Scanner } from './contract';
import { npmAudit } from './npm-audit';
import { osvScanner } from './osv-scanner';

export const SCANNER_NAMES = ['npm-audit', 'osv-scanner'] as const;
export type ScannerName = (typeof SCANNER_NAMES)[number];

export const SCANNERS: Record<ScannerName, Scanner> = {
  'npm-audit': npmAudit,
  'osv-scanner': osvScanner,
};
