/** Exit codes of `opsflow deploy watch`: scripts can tell the endings apart. */
export const EXIT = { promoted: 0, error: 1, rolledBack: 2, cancelled: 3, failed: 4 } as const;
