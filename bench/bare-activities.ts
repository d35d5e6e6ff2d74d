/** The bare comparison's only activity: it does nothing, so bare Temporal's cost is all that is left. */
export function createBareActivities() {
  return {
    async noop(_name: string): Promise<void> {},
  };
}

export type BareActivities = ReturnType<typeof createBareActivities>;
