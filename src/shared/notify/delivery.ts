/** Attempts of one notify activity: the workflow's retry policy and the activity's last-attempt rule share it. */
export const NOTIFY_ATTEMPTS = 5;
