/** What this app keeps in its sessions. */
export interface AppSession {
  count?: number;
  userId?: string;
}
