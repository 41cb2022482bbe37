/*
 * market/payment.c — the table of payment adapters (see payment.h).
 */
#include <string.h>

#include "market/payment.h"

const struct payment_adapter *payment_adapter_find(const char *name)
{
    const struct payment_adapter *const adapters[] = {payment_adapter_operator(), NULL};

    if (name == NULL)
        return NULL;
    for (size_t i = 0; adapters[i] != NULL; i++)
        if (strcmp(adapters[i]->name, name) == 0)
            return adapters[i];
    return NULL;
}

const struct payment_adapter *payment_adapter_default(void)
{
    return payment_adapter_operator();
}
