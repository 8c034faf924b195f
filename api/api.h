/*
 * The api role: the only process that reads bytes from the network.
 */

#ifndef MTUNNELD_API_H
#define MTUNNELD_API_H

int	api_sandbox(void);

#endif /* MTUNNELD_API_H */
