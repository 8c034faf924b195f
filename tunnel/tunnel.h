/*
 * The tunnel role: one process per migration, the JSON-lines command
 * protocol and its state machine.
 */

#ifndef MTUNNELD_TUNNEL_H
#define MTUNNELD_TUNNEL_H

int	tunnel_sandbox(void);

#endif /* MTUNNELD_TUNNEL_H */
